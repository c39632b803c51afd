"""Every panel exports to PNG (as shown), SVG and CSV, and all numbers to NPZ, checked against transformers."""
import csv
import json

import numpy as np
import pytest
import torch
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

import gptviz
from tests.gui.conftest import settle

TEXT = "one two three two three"
B_TEXT = "one two four"
PANELS = ["Token splits", "Embedding and position norms", "Attention", "Next token", "All heads",
          "Head statistics", "Logit lens", "Embedding geometry", "Residual stream", "Architecture",
          "Compare prompts", "Logit attribution", "Surprisal", "Activation patching"]
P_TEXT = "one two four two three"              # prompt B of the patching sweep: as many tokens as TEXT


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def hf_ref(hf_model):
    """transformers' own forward: attentions (L, H, T, T), hidden states and logits, per prompt."""
    from gptviz.core.tokenizer import gpt2_tokenizer
    tok = gpt2_tokenizer()

    def run(text):
        ids = tok.encode(text)
        with torch.no_grad():
            out = hf_model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
        return dict(ids=ids, att=np.stack([a[0].numpy() for a in out.attentions]),
                    hidden=[h[0].numpy() for h in out.hidden_states], logits=out.logits[0].numpy())
    return run


def _read(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    comments = [x for x in lines if x.startswith("#")]
    rows = list(csv.reader(x for x in lines if not x.startswith("#")))
    return comments, rows[0], rows[1:]


def _show(qtbot, window, name):
    dock = next(d for d in window.docks() if d.windowTitle() == name) if name != "Attention" else None
    if dock is not None:
        dock.show()
        dock.raise_()
    if name == "Compare prompts":
        window.compare.editor.setPlainText(B_TEXT)
    if name == "Activation patching":
        window.patching.b_editor.setPlainText(P_TEXT)
        window.patching.token.setText(" three")                 # typed pieces, resolved by the model's tokenizer
        window.patching.minus.setText(" four")
    window.editor.setPlainText(TEXT)
    settle(qtbot, window)
    need = {"Logit lens": "lens", "Residual stream": "residual", "Compare prompts": "compare",
            "Logit attribution": "attribution", "Surprisal": "surprisal"}.get(name)
    if need:
        qtbot.waitUntil(lambda: window.current(need) is not None and window.client.idle, timeout=30000)
    if name == "Activation patching":                           # a sweep runs on Run only
        with qtbot.waitSignal(window.patching.runner.finished, timeout=60000):
            window.patching.run()
        assert window.patching.result is not None and not window.patching.result.cancelled


def _attribution_ref(hf_model, ids, tok):
    """numpy from transformers' recorded tensors: what each head, MLP and the embeddings write at the last
    position, through ln_f with its scale frozen, read by the unembedding row of `tok`."""
    tr = hf_model.transformer
    got, hooks = {}, []
    for layer, blk in enumerate(tr.h):
        hooks.append(blk.attn.c_proj.register_forward_pre_hook(
            lambda m, a, layer=layer: got.__setitem__(("z", layer), a[0][0, -1].double().numpy())))
        hooks.append(blk.mlp.register_forward_hook(
            lambda m, a, out, layer=layer: got.__setitem__(("mlp", layer), out[0, -1].double().numpy())))
    hooks.append(tr.ln_f.register_forward_pre_hook(lambda m, a: got.__setitem__("x", a[0][0, -1].double().numpy())))
    with torch.no_grad():
        hf_model(torch.tensor([ids]))
    for h in hooks:
        h.remove()
    g, eps = tr.ln_f.weight.detach().double().numpy(), tr.ln_f.eps
    u = tr.wte.weight.detach().double().numpy()[tok]
    read = lambda v: float(((v - v.mean()) / np.sqrt(got["x"].var() + eps) * g) @ u)   # noqa: E731
    L, H = len(tr.h), hf_model.config.n_head
    heads = np.zeros((L, H))
    for layer, blk in enumerate(tr.h):
        W = blk.attn.c_proj.weight.detach().double().numpy()                    # Conv1D (in, out)
        d = W.shape[0] // H
        for h in range(H):
            heads[layer, h] = read(got[("z", layer)][h * d:(h + 1) * d] @ W[h * d:(h + 1) * d])
    mlps = np.array([read(got[("mlp", layer)]) for layer in range(L)])
    return heads, mlps


@pytest.mark.parametrize("name", PANELS)
def test_export_each_panel(qtbot, window, tmp_path, hf_model, hf_ref, name):
    _show(qtbot, window, name)
    panel = window.panels()[name]
    window.export(panel, "png", tmp_path / "p.png")
    img = QImage(str(tmp_path / "p.png"))
    dpr = panel.devicePixelRatio()
    assert (img.width(), img.height()) == (panel.width() * dpr, panel.height() * dpr)
    window.export(panel, "svg", tmp_path / "p.svg")
    assert "<svg" in (tmp_path / "p.svg").read_text(encoding="utf-8")[:2000]
    window.export(panel, "csv", tmp_path / "p.csv")
    comments, header, rows = _read(tmp_path / "p.csv")
    ref = hf_ref(TEXT)
    ids, T, L = ref["ids"], len(ref["ids"]), ref["att"].shape[0]
    wte = hf_model.transformer.wte.weight.detach().numpy()
    wpe = hf_model.transformer.wpe.weight.detach().numpy()
    if name != "Embedding geometry":                  # the geometry is the weights', not the prompt's
        assert comments[0] == "# prompt: " + json.dumps(TEXT, ensure_ascii=False)
    col = {h: i for i, h in enumerate(header)}
    num = lambda key: np.array([float(r[col[key]]) for r in rows])   # noqa: E731
    if name in ("Token splits", "Embedding and position norms", "Residual stream"):
        assert [int(r[col["token_id"]]) for r in rows] == ids              # per-position tables name their tokens
    if name == "Attention":
        assert [int(r[col["query_token_id"]]) for r in rows] == ids
    if name == "Logit lens":
        assert [int(r[col["input_token_id"]]) for r in rows] == [ids[int(r[col["position"]])] for r in rows]
    if name == "Token splits":
        assert [r[col["token"]] for r in rows] == [window.tokens.chips.pieces[i].text for i in range(T)]
    elif name == "Embedding and position norms":
        np.testing.assert_allclose(num("token_embedding_norm"), np.linalg.norm(wte[ids], axis=1), rtol=1e-5)
        np.testing.assert_allclose(num("position_embedding_norm"), np.linalg.norm(wpe[:T], axis=1), rtol=1e-5)
        np.testing.assert_allclose(num("input_norm"), np.linalg.norm(wte[ids] + wpe[:T], axis=1), rtol=1e-5)
    elif name == "Attention":
        layer, head = window.attention.layer, window.attention.head
        assert f"layer {layer}, head {head}" in comments[1]
        m = np.array([[float(x) for x in r[3:]] for r in rows])
        np.testing.assert_allclose(m, ref["att"][layer, head], atol=1e-5)
    elif name == "Next token":
        p = _softmax(ref["logits"][-1] / window.next_token.temperature.value())
        want = np.argsort(-p, kind="stable")[:window.next_token.k.value()]
        assert [int(r[col["token_id"]]) for r in rows] == want.tolist()
        np.testing.assert_allclose(num("probability"), p[want], rtol=1e-4)
    elif name in ("All heads", "Head statistics"):
        a = ref["att"]                                                   # (L, H, T, T)
        q = np.arange(1, T)
        assert len(rows) == L * a.shape[1]
        np.testing.assert_allclose(num("prev"), a[:, :, q, q - 1].mean(-1).ravel(), atol=1e-5)
        np.testing.assert_allclose(num("first"), a[:, :, q, 0].mean(-1).ravel(), atol=1e-5)
        ent = -(a * np.log(np.where(a > 0, a, 1))).sum(-1).mean(-1)     # mean row entropy, nats
        np.testing.assert_allclose(num("entropy"), ent.ravel(), atol=1e-4)
    elif name == "Logit lens":
        ln = hf_model.transformer.ln_f
        g, b = ln.weight.detach().numpy(), ln.bias.detach().numpy()

        def lens(h):                                                     # final LayerNorm, then unembedding
            z = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + ln.eps)
            return _softmax((z * g + b) @ wte.T)
        # HF's hidden states: the embedding, then after each block; its last one already has ln_f applied
        probs = [lens(h) for h in ref["hidden"][:L]] + [_softmax(ref["logits"])]
        assert len(rows) == (L + 1) * T
        for r in rows:
            row = 0 if r[0] == "embedding" else int(r[0].split()[1]) + 1
            pos = int(r[col["position"]])
            assert int(r[col["top1_id"]]) == int(np.argmax(probs[row][pos]))
            np.testing.assert_allclose(float(r[col["p1"]]), probs[row][pos].max(), rtol=1e-4)
    elif name == "Residual stream":
        for layer in range(L):                                           # HF's last hidden state is post-ln_f
            np.testing.assert_allclose(num(f"resid_{layer}"), np.linalg.norm(ref["hidden"][layer], axis=1),
                                       rtol=1e-5)
    elif name == "Embedding geometry":
        np.testing.assert_allclose(num("position_embedding_norm"), np.linalg.norm(wpe, axis=1), rtol=1e-5)
    elif name == "Architecture":
        params = {r[0]: int(r[1]) for r in rows}
        emb = next(k for k in params if k.startswith("token embedding"))
        pos = next(k for k in params if k.startswith("position embedding"))
        assert (params[emb], params[pos]) == (wte.size, wpe.size)
    elif name == "Compare prompts":
        assert comments[1] == "# prompt B: " + json.dumps(B_TEXT)
        pa = _softmax(ref["logits"][-1])
        pb = _softmax(hf_ref(B_TEXT)["logits"][-1])
        got = [int(r[col["token_id"]]) for r in rows]
        np.testing.assert_allclose(num("p_A"), pa[got], rtol=1e-4)
        np.testing.assert_allclose(num("p_B"), pb[got], rtol=1e-4)
        assert set(np.argsort(-pa)[:window.next_token.k.value()]) <= set(got)
    elif name == "Logit attribution":
        tok = int(np.argmax(ref["logits"][-1]))
        assert f"# token: {tok} " in comments[1]
        heads, mlps = _attribution_ref(hf_model, ids, tok)
        got = {(r[0], r[1], r[2]): float(r[3]) for r in rows}
        np.testing.assert_allclose([got[("head", str(layer), str(h))] for layer in range(L) for h in range(4)],
                                   heads.ravel(), atol=1e-4)
        np.testing.assert_allclose([got[("mlp", str(layer), "")] for layer in range(L)], mlps, atol=1e-4)
        assert abs(sum(got.values()) - ref["logits"][-1, tok]) < 1e-3           # the parts add up to the logit
    elif name == "Surprisal":
        x = ref["logits"].astype(np.float64)
        logp = x - x.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        assert [int(r[col["token_id"]]) for r in rows] == ids[1:]
        np.testing.assert_allclose(num("surprisal_nats"),
                                   -logp[np.arange(T - 1), ids[1:]], atol=1e-4)
    elif name == "Activation patching":
        from tests.unit.test_patching import hf_resid_patch
        assert comments[1] == "# prompt B: " + json.dumps(P_TEXT)
        b = hf_ref(P_TEXT)
        from gptviz.core.tokenizer import gpt2_tokenizer
        (tok,), (minus,) = gpt2_tokenizer().encode(" three"), gpt2_tokenizer().encode(" four")
        metric = lambda lg: float(lg[-1, tok] - lg[-1, minus])   # noqa: E731
        base, source = metric(ref["logits"]), metric(b["logits"])
        assert comments[2].startswith("# metric: logit(") and f"(ids {tok}, {minus})" in comments[2]
        resid = {(int(r[1]), int(r[2])): r for r in rows if r[0] == "resid"}
        assert len(resid) == (L + 1) * T and sum(r[0] == "head" for r in rows) == L * 4
        assert [int(resid[(0, p)][3]) for p in range(T)] == ids
        a_ids, b_ids = np.array(ids), np.array(b["ids"])
        for layer, p in [(0, 2), (1, 2), (1, 4)]:
            want = hf_resid_patch(hf_model, "gpt2", a_ids, b_ids, layer, p, tok, minus)
            assert abs(float(resid[(layer, p)][5]) - want) < 1e-4, (layer, p)
            assert abs(float(resid[(layer, p)][6]) - (want - base) / (source - base)) < 1e-3
        assert abs(float(resid[(0, 0)][5]) - base) < 1e-4        # the same token at position 0: A's own value


def test_export_npz_holds_every_layer(qtbot, window, tmp_path, hf_folder, hf_ref):
    text = "numbers please, every layer"
    window.editor.setPlainText(text)
    settle(qtbot, window)
    with qtbot.waitSignal(window.exported, timeout=30000) as sig:
        window.export(window.attention, "npz", tmp_path / "all.npz")
    assert sig.args == [str(tmp_path / "all.npz"), ""]
    z = np.load(tmp_path / "all.npz")                  # no pickles: plain arrays and strings only
    fresh = gptviz.load(str(hf_folder)).trace(text)
    L = fresh.n_layer
    assert z["attention"].shape == (L, 4, fresh.T, fresh.T)
    for layer in range(L):
        np.testing.assert_allclose(z["attention"][layer], fresh.attention(layer), atol=1e-6)
    np.testing.assert_allclose(z["attention"], hf_ref(text)["att"], atol=1e-5)
    np.testing.assert_array_equal(z["token_ids"], fresh.token_ids)
    assert z["tokens"].tolist() == [t.text for t in fresh.tokens]
    assert str(z["prompt"]) == text
    assert int(z["selected_layer"]) == window.attention.layer


def test_export_npz_failure_is_reported(qtbot, window, tmp_path):
    window.editor.setPlainText("a file that cannot be written")
    settle(qtbot, window)
    with qtbot.waitSignal(window.exported, timeout=30000) as sig:
        window.export(window.attention, "npz", tmp_path / "missing-folder" / "x.npz")
    assert sig.args[0].endswith("x.npz") and "missing-folder" in sig.args[1]
    window.editor.setPlainText("still works")
    settle(qtbot, window)


def test_copy_image(qtbot, window):
    window.attention.setFocus()
    window.copy_image()
    assert not QApplication.clipboard().pixmap().isNull()
