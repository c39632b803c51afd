"""Start-up: the window shows the prompt and a loading note at once, the panels with the first frame, and the
slow embedding geometry after it (it must not hold the panels back)."""
import numpy as np
from PySide6.QtCore import QSettings

from gptviz.ui.main_window import DEFAULT_PROMPT, MainWindow
from tests.gui.conftest import settle


def test_loading_state_then_panels_then_geometry(qtbot, tmp_path, hf_folder, hf_model):
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    order = []
    win.resultShown.connect(lambda f: order.append(("frame", bool(win.info.geometry))))
    win.client.geometryReady.connect(lambda info: order.append(("geometry", True)))
    win.load(str(hf_folder))
    assert win.editor.toPlainText() == DEFAULT_PROMPT        # the prompt is there before the model
    assert win.loading_note.isVisibleTo(win) and "Loading" in win.loading_note.text()
    with qtbot.waitSignal(win.client.geometryReady, timeout=60000):
        pass
    settle(qtbot, win)
    assert not win.loading_note.isVisibleTo(win)
    assert order[0] == ("frame", False)                       # panels drawn before the geometry was computed
    assert ("geometry", True) in order and win.client.idle
    assert win.client.sent == 1                               # the default prompt is computed once, not twice
    wpe = hf_model.transformer.wpe.weight.detach().numpy()
    np.testing.assert_allclose(win.geometry.geometry["position_norm"], np.linalg.norm(wpe, axis=1), rtol=1e-5)
    win.close()
