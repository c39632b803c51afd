"""Panels that fit the family, in the window, on tiny random checkpoints of other families (tests/families.py)
with tokenizers trained offline: the rotary position panel, GQA groups in the grid and the statistics,
local windows in the heatmap's mask and the thumbnails, the logit lens through the family's final norm
and head statistics, each against transformers' own forward."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.gui.conftest import settle
from tests.gui.family_models import family_folder, open_window

MASK = (200, 200, 200, 255)
PROMPT = "First Citizen: Before we proceed any further, hear me speak. All: Speak."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {kind: family_folder(kind, root / kind) for kind in ("llama", "gpt_neox", "gpt_neo")}


def _hf(folder):
    import transformers
    m = transformers.AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager")
    return m.eval()


def _hf_run(hf, ids):
    with torch.no_grad():
        return hf(torch.tensor(ids)[None], output_attentions=True, output_hidden_states=True, use_cache=False)


def _window(qtbot, folders, kind, tmp_path, text=PROMPT):
    win = open_window(qtbot, folders[kind], tmp_path)
    win.editor.setPlainText(text)
    settle(qtbot, win)
    win._qtbot = qtbot
    return win


def qtbot_of(win):
    return win._qtbot


def _lens_against_transformers(win, hf, final_norm):
    """The lens panel's rows: tr.logit_lens itself, and each shown guess's probability equals transformers'
    softmax(lm_head(final_norm(hidden state))) (the last row: the model's own logits)."""
    win.d_lens.raise_()
    settle(qtbot_of(win), win)
    r = win.current("lens")
    ids = np.asarray(r.token_ids)
    out = _hf_run(hf, ids)
    with torch.no_grad():
        rows = [final_norm(h[0]) for h in out.hidden_states[:-1]]
        probs = [torch.softmax(hf.get_output_embeddings()(x), -1).numpy() for x in rows]
    probs.append(torch.softmax(out.logits[0], -1).numpy())                   # (L+1) x (T, V)
    want_ids, want_p = win.client._worker.ctx.trace.logit_lens(r.positions, k=r.ids.shape[2])
    np.testing.assert_array_equal(r.ids, want_ids)
    np.testing.assert_allclose(r.probs, want_p, atol=1e-6)
    np.testing.assert_allclose(win.lens.img.image, r.probs[:, :, 0].T, atol=1e-6)   # what is drawn
    L1, P, k = r.ids.shape
    assert L1 == hf.config.num_hidden_layers + 1
    for layer in range(L1):
        for c, pos in enumerate(r.positions):
            for j in range(k):
                if r.ids[layer, c, j] >= 0:
                    assert abs(probs[layer][pos, r.ids[layer, c, j]] - r.probs[layer, c, j]) < 1e-4
    return out


def _stats_against_transformers(win, out, cfg):
    """Head statistics table: prev-token, first-token and entropy from transformers' attention (every query
    is sampled at these lengths), the K/V head each query head reads, the layer's window."""
    rows = win.head_stats.rows()
    table = win.head_stats.table
    assert len(rows) == cfg.n_layer * cfg.n_head
    for r, (layer, head, stats) in enumerate(rows):
        a = out.attentions[layer][0, head].numpy()                            # (T, T)
        T = len(a)
        q = np.arange(1, T)
        assert abs(stats["prev"] - a[q, q - 1].mean()) < 1e-4
        assert abs(stats["first"] - a[q, 0].mean()) < 1e-4
        ent = -(np.where(a > 0, a * np.log(np.where(a > 0, a, 1)), 0)).sum(-1).mean()
        assert abs(stats["entropy"] - ent) < 1e-3
        kv = head // (cfg.n_head // cfg.n_kv_head)                            # transformers' repeat_kv order
        assert kv == cfg.kv_head_of(head) and table.item(r, 2).value == kv
        w = cfg.window(layer)
        assert table.item(r, 3).text() == ("–" if w is None else str(w))


def test_llama_gqa_groups_rotary_panel_lens_and_stats(qtbot, folders, tmp_path):
    win = _window(qtbot, folders, "llama", tmp_path)
    cfg = win.info.config
    assert (cfg.n_head, cfg.n_kv_head) == (4, 2)
    hf = _hf(folders["llama"])
    out = _lens_against_transformers(win, hf, hf.model.norm)
    win.d_stats.raise_()
    settle(qtbot, win)
    _stats_against_transformers(win, out, cfg)
    # the grid: one bracket per K/V head over exactly the query heads that read it
    h = win.heads
    assert h.kv_groups == [[0, 1], [2, 3]]
    assert [t.toPlainText() for t in h.group_labels if t.isVisible()] == ["kv 0", "kv 1"]
    xs, ys = h.groups.getData()
    size, t = h.tile, h.t
    bars = {(xs[i], xs[i + 1]) for i in range(0, len(xs), 2) if ys[i] == ys[i + 1] < 0}
    assert bars == {(0, size + t), (2 * size, 3 * size + t)}
    separators = [xs[i] for i in range(0, len(xs), 2) if xs[i] == xs[i + 1]]
    assert (2 * size - (size - t) / 2) in separators                         # in the gap between heads 1 and 2
    # the position panel: rotary, with its frequencies drawn, never an empty plot
    g = win.geometry
    assert g.rot_view.isVisibleTo(win.geometry) and not g.view.isVisibleTo(win.geometry)
    x, y = g.wave_dots.getData()
    inv = hf.model.rotary_emb.inv_freq.numpy()
    np.testing.assert_allclose(10 ** y, 2 * np.pi / inv, rtol=1e-5)                  # a log-y plot holds log10
    assert len(g.score_curve.getData()[0]) == cfg.block_size
    assert "adds no position vectors" in g.caption.text() and "rotating q and k" in g.caption.text()
    win.d_arch.raise_()
    settle(qtbot, win)
    titles = [b.title for b in win.architecture.boxes]
    assert "RMSNorm 1" in titles and any("SwiGLU" in t for t in titles)


def test_gpt_neox_lens_stats_and_rotary_panel(qtbot, folders, tmp_path):
    win = _window(qtbot, folders, "gpt_neox", tmp_path)
    hf = _hf(folders["gpt_neox"])
    out = _lens_against_transformers(win, hf, hf.gpt_neox.final_layer_norm)
    win.d_stats.raise_()
    settle(qtbot, win)
    _stats_against_transformers(win, out, win.info.config)
    assert win.heads.kv_groups == [] and not any(t.isVisible() for t in win.heads.group_labels)
    g = win.geometry
    assert len(g.wave_dots.getData()[0]) == win.info.config.rotary_dim // 2       # partial rotary: 6 of 12 dims
    assert "first 6 of each head's 12 dimensions" in g.caption.text()


def test_gpt_neo_local_band_in_heatmap_and_thumbnails(qtbot, folders, tmp_path):
    win = _window(qtbot, folders, "gpt_neo", tmp_path)
    cfg = win.info.config
    assert cfg.windows == (None, 5)
    hf = _hf(folders["gpt_neo"])
    ids = np.asarray(win.current("tokens").token_ids)
    T = len(ids)
    assert 12 < T <= 48
    att = [a[0].numpy() for a in _hf_run(hf, ids).attentions]                # (H, T, T) per layer
    q, k = np.indices((T, T))
    band = (k > q) | (q - k >= 5)
    # transformers' own pattern: zero exactly outside the band in the local layer, only the future in layer 0
    assert (att[1][:, band] == 0).all() and (att[1][:, ~band] > 0).all()
    assert (att[0][:, k > q] == 0).all() and (att[0][:, k <= q] > 0).all()
    for layer, hidden in ((1, band), (0, k > q)):
        win.attention.layer_box.setValue(layer)
        settle(qtbot, win)
        img = win.attention.img.rgba()                                      # (T, T, 4) the colours drawn
        assert img.shape[:2] == (T, T)
        np.testing.assert_array_equal((img == MASK).all(-1), hidden)
        assert (img[~hidden, 3] == 255).all()                                # the pattern's colours, opaque
    # thumbnails (exact cells at this length): the same band, in layer 1's row of the mosaic only
    h = win.heads
    mosaic, size = h.img.rgba(), h.tile
    for layer, hidden in ((0, k > q), (1, band)):
        for head in range(cfg.n_head):
            tile = mosaic[layer * size:layer * size + T, head * size:head * size + T]
            np.testing.assert_array_equal((tile == MASK).all(-1), hidden)
    ticks = [label for _, label in h.plot.getAxis("left")._tickLevels[0]]
    assert ticks == ["0", "1 local 5"]


def test_thumbnail_band_when_keys_are_pooled(qtbot, folders, tmp_path):
    """Past 48 tokens the thumbnails sample one query per row bin and average key bins: a cell is in the
    mask colour exactly when transformers gives that query no attention on any key of the bin."""
    win = open_window(qtbot, folders["gpt_neo"], tmp_path)
    text = PROMPT
    while True:
        win.editor.setPlainText(text)
        settle(qtbot, win)
        if win.current("tokens").T > 52:
            break
        text += " Speak, speak."
    ids = np.asarray(win.current("tokens").token_ids)
    T = len(ids)
    assert T <= 64
    hf = _hf(folders["gpt_neo"])
    att = [a[0].numpy() for a in _hf_run(hf, ids).attentions]
    edges = np.linspace(0, T, 49).round().astype(int)                       # 48 near-equal key bins
    queries = edges[1:] - 1                                                  # every row is sampled at T <= 64
    h = win.heads
    size = h.tile
    for layer in range(2):
        seen = att[layer][0, queries]                                         # (48, T) head 0
        none = np.stack([[seen[i, edges[j]:edges[j + 1]].sum() == 0 for j in range(48)] for i in range(48)])
        tile = h.img.rgba()[layer * size:layer * size + 48, 0:48]
        np.testing.assert_array_equal((tile == MASK).all(-1), none)
    assert none.sum() > (np.triu(np.ones((48, 48)), 1)).sum()                # layer 1: more than the future



# ---- BOS and dtype ----------------------------------------------------------------------------------

def _library_ids(folder, text):
    import tokenizers
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    return tok, tok.encode(text, add_special_tokens=False).ids


def test_llama_bos_defaults_on_and_prepends_its_bos_not_eos(qtbot, folders, tmp_path):
    import gptviz
    text = "Speak, speak."
    tok, ids = _library_ids(folders["llama"], text)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    m = gptviz.load(str(folders["llama"]))
    assert m.encode(text, prepend_bos=True)[0] == [bos] + ids and bos != eos
    assert m.encode(text)[0] == ids
    win = _window(qtbot, folders, "llama", tmp_path, text)
    a = win.bos_action
    assert a.isEnabled() and a.isChecked() and a.text() == "Prepend <s> (BOS)"     # add_bos_token: true
    r = win.current("tokens")
    assert list(r.token_ids) == [bos] + ids and r.tokens[0].text == "<s>"
    assert "starts with &lt;s&gt; (BOS)" in win.tokens.summary.text()
    assert win.tokens.chips.isVisible()
    a.setChecked(False)
    settle(qtbot, win)
    assert list(win.current("tokens").token_ids) == ids and "starts with" not in win.tokens.summary.text()


def test_neox_bos_defaults_off_and_is_its_endoftext(qtbot, folders, tmp_path):
    text = "Speak, speak."
    tok, ids = _library_ids(folders["gpt_neox"], text)
    win = _window(qtbot, folders, "gpt_neox", tmp_path, text)
    a = win.bos_action
    assert not a.isChecked() and a.text() == "Prepend <|endoftext|> (BOS)"
    assert list(win.current("tokens").token_ids) == ids
    a.setChecked(True)
    settle(qtbot, win)
    assert list(win.current("tokens").token_ids) == [tok.token_to_id("<|endoftext|>")] + ids


def test_window_keeps_bf16_weights_when_asked(qtbot, folders, tmp_path):
    win = open_window(qtbot, folders["llama"], tmp_path, dtype="bf16")
    model = win.client._worker.model
    assert {p.dtype for p in model.model.parameters()} == {torch.bfloat16}
    hf = _hf(folders["llama"])
    ids = np.asarray(win.current("tokens").token_ids)
    with torch.no_grad():
        want = hf(torch.tensor(ids)[None]).logits[0].numpy()
    got = win.client._worker.ctx.trace.logits()
    assert np.abs(got - want).max() < 0.1 and np.abs(got - want).max() > 0    # bf16: close, not bit-equal


def test_command_line_dtype_reaches_open_model(folders, tmp_path):
    import subprocess
    import sys
    script = (
        "import sys, gptviz.api as api\n"
        "real = api.open_model\n"
        "def spy(path=None, device='cpu', dtype=None):\n"
        "    print('open_model dtype', dtype, flush=True)\n"
        "    return real(path, device, dtype)\n"
        "api.open_model = spy\n"
        "from gptviz.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    shot = tmp_path / "bf16.png"
    import os
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-c", script, str(folders["llama"]), "--dtype", "bf16", "--prompt", "Speak.",
                        "--screenshot", str(shot)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "open_model dtype bf16" in r.stdout and shot.stat().st_size > 10000


def test_pooled_heatmap_masks_blocks_before_the_window(qtbot, tmp_path):
    """Past 1,024 tokens the heatmap shows max-pooled blocks: in GPT-Neo's local layer a block is NaN (the grey
    mask shows through) exactly when transformers gives none of its queries any attention on its keys."""
    folder = family_folder("gpt_neo", tmp_path / "neo_long", max_position_embeddings=1400, window_size=100)
    win = open_window(qtbot, folder, tmp_path)
    text = "First Citizen: Before we proceed any further, hear me speak. " * 40
    win.editor.setPlainText(text)
    win.attention.layer_box.setValue(1)
    settle(qtbot, win)
    a = win.attention
    r = a.result
    assert a.pooled and r.layer == 1 and 1024 < r.T <= 1400
    hf = _hf(folder)
    att = _hf_run(hf, np.asarray(r.token_ids)).attentions[1][0, a.head].numpy()   # (T, T)
    qe, ke = r.q_edges, r.k_edges
    sums = np.add.reduceat(np.add.reduceat(att, qe[:-1], axis=0), ke[:-1], axis=1)   # (nq, nk) attention per block
    shown = a.img.values
    assert shown.shape == sums.shape
    np.testing.assert_array_equal(np.isnan(shown), sums == 0)
    np.testing.assert_array_equal((a.img.rgba() == MASK).all(-1), sums == 0)     # drawn in the mask grey
    assert np.isnan(shown).sum() > np.isnan(r.pooled[a.head]).sum()             # more than the causal mask
