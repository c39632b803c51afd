"""The "ask why" panels show the numbers an independent fresh load computes: direct logit attribution
(its heatmap, its exact sum, its CSV rows) and clicking a head selects it in the attention panel."""
import csv

import numpy as np
from PySide6.QtCore import QPointF, Qt

import gptviz
from tests.gui.conftest import settle

TEXT = "The cat sat on the mat because it was"


def _show_attribution(qtbot, window, text=TEXT):
    window.d_attribution.show()
    window.d_attribution.raise_()
    window.editor.setPlainText(text)
    settle(qtbot, window, text)
    qtbot.waitUntil(lambda: window.current("attribution") is not None and window.client.idle, timeout=60000)
    return window.attribution


def _logits(hf_model, text):
    """(T, V) logits from transformers' own forward (the independent reference)."""
    import torch
    from gptviz.core.tokenizer import gpt2_tokenizer
    ids = gpt2_tokenizer().encode(text)
    with torch.no_grad():
        return hf_model(torch.tensor([ids])).logits[0].numpy().astype(np.float64)


def test_attribution_heatmap_sum_and_csv(qtbot, window, hf_folder, hf_model, tmp_path):
    panel = _show_attribution(qtbot, window)
    r = panel.result
    logits = _logits(hf_model, TEXT)
    top = int(np.argmax(logits[-1]))
    assert r.token == top
    ref = gptviz.load(str(hf_folder)).trace(TEXT).logit_attribution(top)
    # the heatmap drawn is the fresh load's (layers x heads), on symmetric levels
    np.testing.assert_allclose(panel.img.image, ref.heads, rtol=1e-5, atol=1e-6)
    lo, hi = panel.cbar.levels()
    assert lo == -hi and abs(hi - np.abs(ref.heads).max()) < 1e-6
    np.testing.assert_allclose(panel.mbars.opts["height"], ref.mlps, rtol=1e-5, atol=1e-6)
    # the parts add up to transformers' logit, and the caption states both numbers
    parts = r.embed + r.heads.sum() + r.attn_bias.sum() + r.mlps.sum() + r.bias
    assert abs(parts - logits[-1, top]) < 1e-3
    assert abs(r.logit - logits[-1, top]) < 1e-3
    cap = panel.caption.text()
    assert f"{logits[-1, top]:.4f}" in cap or f"{r.logit:.4f}" in cap
    assert f"sum to {parts:.4f}" in cap
    # CSV: one row per head, per attention bias, per MLP, plus embed and bias; they sum to the logit
    window.export(panel, "csv", tmp_path / "a.csv")
    lines = open(tmp_path / "a.csv", encoding="utf-8").read().splitlines()
    rows = list(csv.reader(x for x in lines if not x.startswith("#")))
    assert rows[0] == ["component", "layer", "head", "contribution"]
    L, H = ref.heads.shape
    body = rows[1:]
    assert len(body) == 2 + L * H + 2 * L
    heads = {(int(a[1]), int(a[2])): float(a[3]) for a in body if a[0] == "head"}
    for (layer, h), v in heads.items():
        assert abs(v - ref.heads[layer, h]) < 1e-5
    assert abs(sum(float(a[3]) for a in body) - logits[-1, top]) < 1e-3


def test_attribution_other_candidate_and_head_click(qtbot, window, hf_folder, hf_model):
    panel = _show_attribution(qtbot, window)
    window.d_next.raise_()
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle, timeout=60000)
    third = int(window.next_token.result.top_ids[2])
    assert panel.choice.findData(third) >= 0          # the next-token candidates fill the chooser
    window.d_attribution.raise_()
    panel.choice.setCurrentIndex(panel.choice.findData(third))
    panel.choice.activated.emit(panel.choice.currentIndex())
    qtbot.waitUntil(lambda: window.current("attribution") is not None and window.attribution.result.token == third
                    and window.client.idle, timeout=60000)
    logits = _logits(hf_model, TEXT)
    assert abs(panel.result.total - logits[-1, third]) < 1e-3
    ref = gptviz.load(str(hf_folder)).trace(TEXT).logit_attribution(third)
    np.testing.assert_allclose(panel.img.image, ref.heads, rtol=1e-5, atol=1e-6)
    # a click on cell (layer 1, head 2) selects that head in the attention panel
    L, H = ref.heads.shape
    got = []
    panel.headClicked.connect(lambda layer, h: got.append((layer, h)))
    pos = panel.hplot.vb.mapViewToScene(QPointF(2.5, 1.5))

    class Ev:
        def scenePos(self):
            return pos

        def button(self):
            return Qt.LeftButton
    panel._clicked(Ev())
    assert got == [(1, 2)]
    qtbot.waitUntil(lambda: (window.attention.layer, window.attention.head) == (1, 2), timeout=30000)


def _log_probs(tr):
    """(V,) float64 log-probabilities at the last position, by numpy log-softmax of the trace's logits."""
    x = tr.logits([tr.T - 1])[0].astype(np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def test_head_ablation_updates_next_token_and_delta(qtbot, window, hf_folder, tmp_path):
    window.d_next.raise_()
    window.editor.setPlainText(TEXT)
    settle(qtbot, window, TEXT)
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle, timeout=60000)
    clean_ids = np.array(window.next_token.result.top_ids)
    clean_probs = np.array(window.next_token.result.top_probs)
    k = len(clean_ids)
    m = gptviz.load(str(hf_folder))
    clean, abl = m.trace(TEXT), m.trace(TEXT, ablate=[(1, 2)])
    p_abl = abl.next_token_probs()
    assert not np.allclose(p_abl, clean.next_token_probs(), atol=1e-4)   # the ablation changes something
    window.ablations.add_head(1, 2, "zero")
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle
                    and all(d is not None for d in window.next_token.deltas()), timeout=60000)
    f = window.next_token.result
    assert f.prompt.ablation.heads == ((1, 2),)
    ref_ids = np.argsort(-p_abl, kind="stable")[:k]
    np.testing.assert_array_equal(f.top_ids, ref_ids)
    np.testing.assert_allclose(f.top_probs, p_abl[ref_ids], rtol=1e-4, atol=1e-6)
    want = _log_probs(abl)[f.top_ids] - _log_probs(clean)[f.top_ids]
    np.testing.assert_allclose(window.next_token.deltas(), want, rtol=1e-3, atol=1e-4)
    assert "Δlog p" in window.next_token.texts[0].textItem.toPlainText()
    window.export(window.next_token, "csv", tmp_path / "n.csv")
    rows = list(csv.reader(x for x in open(tmp_path / "n.csv", encoding="utf-8").read().splitlines()
                           if not x.startswith("#")))
    assert rows[0][-1] == "delta_logp_vs_clean"
    np.testing.assert_allclose([float(r[-1]) for r in rows[1:]], want, rtol=1e-3, atol=1e-4)
    # the other panels follow the ablated model: the attribution of the ablated head is exactly 0
    window.d_attribution.raise_()
    qtbot.waitUntil(lambda: window.current("attribution") is not None and window.client.idle, timeout=60000)
    assert window.attribution.result.heads[1, 2] == 0
    # the menu lists it; clearing restores the clean numbers
    texts = [a.text() for a in window.ablations.menu.actions()]
    assert "head 1.2" in texts
    window.ablations.clear()
    window.d_next.raise_()
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle
                    and window.next_token.result.prompt.ablation is None, timeout=60000)
    np.testing.assert_array_equal(window.next_token.result.top_ids, clean_ids)
    np.testing.assert_allclose(window.next_token.result.top_probs, clean_probs, rtol=1e-6)
    assert window.next_token.deltas() == [None] * k
    assert "Δlog p" not in window.next_token.texts[0].textItem.toPlainText()


def test_right_click_a_head_offers_ablation(qtbot, window, monkeypatch):
    window.d_heads.show()
    window.d_heads.raise_()
    window.editor.setPlainText(TEXT)
    settle(qtbot, window, TEXT)
    offered = []
    monkeypatch.setattr(window.ablations, "context_menu", lambda what, add, pos: offered.append((what, add)))
    grid = window.heads
    qtbot.waitUntil(lambda: grid.shape[0] > 0, timeout=30000)
    s = grid.tile
    pos = grid.plot.vb.mapViewToScene(QPointF(1 * s + s / 2, 0 * s + s / 2))     # layer 0, head 1

    class Ev:
        def scenePos(self):
            return pos

        def screenPos(self):
            return QPointF(0, 0)

        def button(self):
            return Qt.RightButton
    grid._click(Ev())
    assert [w for w, _ in offered] == ["head 0.1"]
    offered[0][1]("mean")
    a = window.ablations.current()
    assert (a.heads, a.mlps, a.mode) == (((0, 1),), (), "mean")
    qtbot.waitUntil(lambda: window.client.idle and window.current("tokens") is not None
                    and window.current("tokens").prompt.ablation == a, timeout=60000)
    # mean-ablation: the trace the window shows is the mean-ablated model's (next-token probs of a fresh load)
    window.d_next.raise_()
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle, timeout=60000)
    assert window.next_token.result.prompt.ablation == a


def test_surprisal_strip_against_numpy(qtbot, window, hf_model):
    import torch
    from gptviz.core.tokenizer import gpt2_tokenizer
    window.d_surprisal.show()
    window.d_surprisal.raise_()
    window.editor.setPlainText(TEXT)
    settle(qtbot, window, TEXT)
    qtbot.waitUntil(lambda: window.current("surprisal") is not None and window.client.idle, timeout=60000)
    panel = window.surprisal
    ids = gpt2_tokenizer().encode(TEXT)
    with torch.no_grad():
        x = hf_model(torch.tensor([ids])).logits[0].numpy().astype(np.float64)      # (T, V)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))                              # numpy log-softmax
    want = -logp[np.arange(len(ids) - 1), ids[1:]]                                   # (T-1,)
    np.testing.assert_allclose(panel.bars.opts["height"], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(panel.bars.opts["x"], np.arange(1, len(ids)))
    # hover over token 3: its surprisal and the model's top 5 guesses there, best first
    pos = panel.plot.vb.mapViewToScene(QPointF(3, want[2] / 2))
    panel.view.scene().sigMouseMoved.emit(pos)
    text = panel.readout.text()
    assert f"{want[2]:.3f} nats" in text
    top5 = np.argsort(-logp[2])[:5]
    for j in top5:
        assert f"{np.exp(logp[2, j]) * 100:.1f}%" in text
    assert [int(i) for i in panel.result.top_ids[2]] == [int(j) for j in top5]
