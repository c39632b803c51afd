"""The "ask why" panels show the numbers an independent fresh load computes: direct logit attribution
(its heatmap, its exact sum, its CSV rows) and clicking a head selects it in the attention panel."""
import csv

import numpy as np
from PySide6.QtCore import QPointF

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
            return 1
    panel._clicked(Ev())
    assert got == [(1, 2)]
    qtbot.waitUntil(lambda: (window.attention.layer, window.attention.head) == (1, 2), timeout=30000)
