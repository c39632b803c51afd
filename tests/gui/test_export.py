"""Every panel exports to PNG (as shown), SVG and CSV, with the numbers the frame holds."""
import csv

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import settle


@pytest.mark.parametrize("name", ["Token splits", "Embedding and position norms", "Attention", "Next token",
                                  "All heads", "Head statistics", "Embedding geometry", "Residual stream",
                                  "Architecture", "Compare prompts"])
def test_export_each_panel(qtbot, window, tmp_path, name):
    if name == "Residual stream":
        window.d_residual.raise_()
    if name == "Compare prompts":
        window.d_compare.raise_()
        window.compare.editor.setPlainText("one two four")
    window.editor.setPlainText("one two three two three")
    settle(qtbot, window)
    if name == "Residual stream":
        qtbot.waitUntil(lambda: window.frame.resid_norm is not None and window.client.idle, timeout=30000)
    if name == "Compare prompts":
        qtbot.waitUntil(lambda: window.frame.compare is not None and window.client.idle, timeout=30000)
    panel = window.panels()[name]
    window.export(panel, "png", tmp_path / "p.png")
    img = QImage(str(tmp_path / "p.png"))
    assert (img.width(), img.height()) == (panel.width() * panel.devicePixelRatio(), panel.height() * panel.devicePixelRatio())
    window.export(panel, "svg", tmp_path / "p.svg")
    assert "<svg" in (tmp_path / "p.svg").read_text(encoding="utf-8")[:2000]
    window.export(panel, "csv", tmp_path / "p.csv")
    rows = list(csv.reader(open(tmp_path / "p.csv", encoding="utf-8")))
    f = window.frame
    if name == "Attention":
        m = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
        np.testing.assert_allclose(m, f.attention[window.attention.head], atol=1e-6)
    elif name == "Embedding and position norms":
        np.testing.assert_allclose([float(r[4]) for r in rows[1:]], f.input_norm, rtol=1e-6)
    elif name == "Next token":
        assert [int(r[1]) for r in rows[1:]] == list(f.top_ids)
    elif name == "Token splits":
        assert [int(r[1]) for r in rows[1:]] == list(f.token_ids)
    elif name == "Residual stream":
        np.testing.assert_allclose([float(r[2]) for r in rows[1:]], f.resid_norm[0], rtol=1e-6)
        window.d_norms.raise_()
    elif name == "Compare prompts":
        np.testing.assert_allclose([float(r[1]) for r in rows[1:]], f.compare.probs_a, rtol=1e-6)
        window.d_heads.raise_()
    elif name == "Architecture":
        assert [r[0] for r in rows[1:]][0].startswith("token embedding")
    elif name == "Embedding geometry":
        np.testing.assert_allclose([float(r[1]) for r in rows[1:]], window.geometry.geometry["position_norm"])
    else:
        L, H = f.head_stats["prev"].shape
        assert len(rows) == 1 + L * H


def test_export_npz_and_copy_image(qtbot, window, tmp_path):
    window.editor.setPlainText("numbers please")
    settle(qtbot, window)
    window.export(window.attention, "npz", tmp_path / "all.npz")
    z = np.load(tmp_path / "all.npz")
    np.testing.assert_array_equal(z["token_ids"], window.frame.token_ids)
    np.testing.assert_array_equal(z["attention"], window.frame.attention)
    window.attention.setFocus()
    window.copy_image()
    assert not QApplication.clipboard().pixmap().isNull()
