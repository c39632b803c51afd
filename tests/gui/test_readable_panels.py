"""What the next-token, logit-lens, residual, compare, geometry and norms panels show is right and readable:
values against numpy recomputations, every label drawn, hover read-outs that clear when they go stale."""
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF
from PySide6.QtWidgets import QApplication
from safetensors.numpy import load_file, save_file

import gptviz
from tests.gui.conftest import settle

SHARED_WORDS = (" cat", " mat")


@pytest.fixture(scope="module")
def shared_folder(hf_folder, tmp_path_factory):
    """The small HF model with 102 ids (" cat", " mat" and ids 1000-1099) sharing one embedding row."""
    d = tmp_path_factory.mktemp("hf_shared")
    for name in ("config.json", "generation_config.json"):
        shutil.copy(hf_folder / name, d / name)
    w = load_file(str(hf_folder / "model.safetensors"))
    wte = w["transformer.wte.weight"].copy()                     # (V, d)
    tok = gptviz.load(str(hf_folder)).tokenizer
    ids = [tok.encode(s)[0] for s in SHARED_WORDS] + list(range(1000, 1100))
    wte[ids] = wte[2000] * 3                                     # one row, larger than the trained ones
    w["transformer.wte.weight"] = wte
    save_file(w, str(d / "model.safetensors"), metadata={"format": "pt"})
    return d


def hover(qtbot, widget, scene_pos):
    """Move the mouse over a pyqtgraph widget's scene position, as the scene reports it."""
    widget.scene().sigMouseMoved.emit(scene_pos)


def leave(widget):
    QApplication.sendEvent(widget, QEvent(QEvent.Leave))


def cell_centre(plot_item, x, y):
    """Scene position of data point (x, y) in a PlotItem."""
    return plot_item.vb.mapViewToScene(QPointF(x, y))


def test_shared_rows_in_geometry_and_norms(qtbot, window, shared_folder):
    with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):
        window.load(str(shared_folder))
    text = "The cat sat on the mat"
    window.d_norms.raise_()
    window.editor.setPlainText(text)
    settle(qtbot, window, text)
    qtbot.waitUntil(lambda: window.norms.frame is not None and window.norms.frame.request.text == text)
    # reference: which ids share a row, straight from the file
    wte = load_file(str(shared_folder / "model.safetensors"))["transformer.wte.weight"]
    rows, first = {}, []
    for i, r in enumerate(wte):
        rows.setdefault(r.tobytes(), []).append(i)
    shared = sorted(i for group in rows.values() if len(group) > 1 for i in group)
    assert len(shared) == 102
    unique_median = np.median([np.linalg.norm(wte[g[0]]) for g in rows.values()])
    cap = window.geometry.caption.text()
    assert f"token embedding {unique_median:.2f}" in cap
    assert "102 ids share one row" in cap and "excluded" in cap
    # the norms panel marks exactly the positions whose id is shared, at their (identical) norm
    ids = gptviz.load(str(shared_folder)).tokenizer.encode(text)
    pos = [i for i, t in enumerate(ids) if t in set(shared)]
    assert pos == [1, 5]
    x, y = window.norms.shared_marks.getData()
    np.testing.assert_array_equal(x, pos)
    np.testing.assert_allclose(y, np.linalg.norm(wte[ids[1]]), rtol=1e-5)
    note = window.norms.shared_note
    assert note.isVisible() and "#1 ␣cat" in note.text() and "#5 ␣mat" in note.text() and "identical" in note.text()
    assert "102 ids" in note.text()


def test_norms_readout_clears(qtbot, window):
    n = window.norms
    window.d_norms.raise_()
    window.editor.setPlainText("one two three four")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: n.frame is not None and n.frame.request.text == "one two three four")
    f = n.frame
    hover(qtbot, n.plot, cell_centre(n.plot.getPlotItem(), 2, float(f.input_norm[2])))
    assert n.cursor.isVisible() and n.readout.text().startswith("#2 ")
    assert f"‖sum‖ {f.input_norm[2]:.3f}" in n.readout.text()
    leave(n.plot.viewport())                                   # the mouse leaves the plot
    assert not n.cursor.isVisible() and n.readout.text().startswith("Hover")
    hover(qtbot, n.plot, cell_centre(n.plot.getPlotItem(), 1, float(f.input_norm[1])))
    assert n.readout.text().startswith("#1 ")
    window.editor.setPlainText("five six")                      # the prompt changes under a still mouse
    settle(qtbot, window)
    qtbot.waitUntil(lambda: n.frame.request.text == "five six")
    assert not n.cursor.isVisible() and n.readout.text().startswith("Hover")
