"""Layout persistence and opening models from the Hugging Face cache menu."""
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QInputDialog

from gptviz.ui.main_window import MainWindow
from tests.gui.conftest import settle


def test_layout_persists(qtbot, tmp_path):
    ini = str(tmp_path / "layout.ini")
    win = MainWindow(settings=QSettings(ini, QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    win.removeDockWidget(win.d_next)
    win.addDockWidget(Qt.LeftDockWidgetArea, win.d_next)
    win.d_next.show()
    assert win.dockWidgetArea(win.d_next) == Qt.LeftDockWidgetArea
    win.close()
    again = MainWindow(settings=QSettings(ini, QSettings.IniFormat))
    qtbot.addWidget(again)
    again.show()
    assert again.dockWidgetArea(again.d_next) == Qt.LeftDockWidgetArea
    again.close()


def test_open_from_hf_cache(qtbot, window, hf_folder, monkeypatch):
    monkeypatch.setattr("gptviz.checkpoints.hf.cached_gpt2_models", lambda: [("someone/tiny-gpt2", hf_folder)])
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("someone/tiny-gpt2", True)))
    with qtbot.waitSignal(window.client.modelLoaded, timeout=30000):
        window.open_from_hf_cache()
    window.editor.setPlainText("from the cache")
    settle(qtbot, window)
    assert window.tokens.result.T == 3
