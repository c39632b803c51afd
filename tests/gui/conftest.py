import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before any QApplication exists

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _pyqtgraph_options():
    from gptviz.ui.app import configure_pyqtgraph
    configure_pyqtgraph()


@pytest.fixture(autouse=True)
def _previous_tests_widgets_destroyed():
    """pytest-qt closes a test's widgets with deleteLater, so they lived on into the next test until an event
    loop ran; the GUI-thread garbage collector (ui/gui_gc.py) could meanwhile clear the Python half of a
    pyqtgraph item whose C++ half still answered layout requests ('LabelItem' object has no attribute
    '_sizeHint', seen once in a suite run). Destroy them before each test starts, then collect."""
    import gc
    from PySide6.QtCore import QCoreApplication, QEvent
    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, int(QEvent.DeferredDelete.value))
        gc.collect()
    yield


@pytest.fixture
def window(qtbot, tmp_path, hf_folder):
    """A main window on the small random HF model, with settings in a scratch file."""
    from PySide6.QtCore import QSettings
    from gptviz.ui.main_window import MainWindow
    win = MainWindow(device="cpu", settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    with qtbot.waitSignal(win.client.modelLoaded, timeout=60000):
        win.load(str(hf_folder))
    qtbot.waitUntil(lambda: win.current("tokens") is not None and win.client.idle, timeout=60000)
    yield win
    win.close()


def settle(qtbot, win, text=None, timeout=60000):
    """Wait until the worker is idle and every visible panel shows the editor's current text."""
    want = win.editor.toPlainText() if text is None else text
    qtbot.waitUntil(lambda: win.client.idle and not win.debouncer._timer.isActive()
                    and win.current("tokens") is not None and win.current("tokens").prompt.text == want,
                    timeout=timeout)
