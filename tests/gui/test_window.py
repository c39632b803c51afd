"""Layout persistence and opening models from the Hugging Face cache menu."""
import shutil

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog

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


def test_open_from_hf_cache(qtbot, window, hf_folder, monkeypatch, tmp_path):
    # a cache in the hub's layout (refs/main -> snapshots/<commit>/); the dialog's Open pressed at once
    snap = tmp_path / "hub" / "models--someone--tiny-gpt2" / "snapshots" / ("0123456789" * 4)
    shutil.copytree(hf_folder, snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text(snap.name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("gptviz.ui.window_files.HFCacheDialog.exec", lambda self: QDialog.Accepted)
    with qtbot.waitSignal(window.client.modelLoaded, timeout=30000):
        window.open_from_hf_cache()
    window.editor.setPlainText("from the cache")
    settle(qtbot, window)
    assert window.tokens.result.T == 3
