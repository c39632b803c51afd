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
    loop ran. Destroy them before each test starts, then collect the previous test's cycles (gui_gc.collect,
    which destroys the C++ halves of Qt objects before clearing their Python halves)."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from gptviz.ui import gui_gc
    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, int(QEvent.DeferredDelete.value))
        gui_gc.collect()
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
