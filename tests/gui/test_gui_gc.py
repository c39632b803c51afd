"""Cycles (closed windows, dialogs: Qt widgets among them) are collected on the GUI thread only: a
collection in the worker thread ran widget destructors there (a segfault and a deadlock seen in the suite)."""
import gc
import threading


class _Cycle:
    def __init__(self, seen):
        self.me, self.seen = self, seen

    def __del__(self):
        self.seen.append(threading.current_thread())


def test_automatic_collection_is_off_and_cycles_go_on_the_gui_thread(window, qtbot):
    assert not gc.isenabled()
    seen = []
    for _ in range(gc.get_threshold()[0] + 10):          # past generation 0's threshold: the timer collects
        _Cycle(seen)
    window.editor.setPlainText("a cycle-making edit")   # the worker traces (and allocates) meanwhile
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=5000)
    assert {t.name for t in seen} == {threading.main_thread().name}


def test_a_loaded_model_is_frozen_and_the_one_before_it_freed(window, qtbot, hf_folder):
    """Objects alive after a load are frozen (a generation-2 collection over them held the GUI thread and the
    GIL ~270 ms with GPT-2 small); the next plain load unfreezes and collects, so the previous model and any
    cycle frozen with it go."""
    import weakref

    def load():
        with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):
            window.load(str(hf_folder))
        qtbot.waitUntil(lambda: window.client.idle, timeout=60000)

    first = window.client._worker.model
    assert gc.get_freeze_count() > 1000
    assert not any(o is first for o in gc.get_objects())          # frozen: no collection looks at it
    gone = weakref.ref(first)
    seen = []
    cycle = _Cycle(seen)
    del first
    load()                                                         # the cycle is frozen with the new model
    assert gone() is None                                          # the freeze kept nothing alive
    assert not any(o is cycle for o in gc.get_objects())
    del cycle
    load()
    assert len(seen) == 1                                          # collected by the plain load
    assert gc.get_freeze_count() > 1000


def _shown_panel_in_a_cycle(cls):
    """A shown panel that only a reference cycle keeps alive (no qtbot.addWidget: nothing deletes it but gc)."""
    import weakref
    from PySide6.QtWidgets import QApplication
    panel = cls()
    panel.resize(500, 300)
    panel.show()
    QApplication.processEvents()
    panel.me = panel
    return weakref.ref(panel)


def _live_qt_objects():
    import shiboken6
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QGraphicsItem
    return sum(isinstance(o, (QObject, QGraphicsItem)) for o in shiboken6.getAllValidWrappers())


def test_a_shown_plot_panel_in_a_cycle_is_destroyed_before_it_is_cleared(qtbot):
    """Cleared first, its legend's LabelItem answered the layout of the widget's destruction without its
    attributes ('LabelItem' object has no attribute '_sizeHint', raised in a suite run); another panel
    (the next-token table) segfaulted. pytest-qt fails this test on an exception in a Qt virtual method."""
    from PySide6.QtWidgets import QApplication
    from gptviz.ui import gui_gc
    from gptviz.ui.panels.next_token import NextTokenPanel
    from gptviz.ui.panels.norms import NormsPanel
    for cls in (NormsPanel, NextTokenPanel):
        gui_gc.collect()
        before = _live_qt_objects()
        gone = _shown_panel_in_a_cycle(cls)
        assert gone() is not None and _live_qt_objects() > before + 10
        assert gui_gc.collect() > 0
        QApplication.processEvents()
        assert gone() is None
        assert _live_qt_objects() <= before          # its C++ objects went with it


def test_the_timer_collects_a_shown_panel_cleanly(window, qtbot):
    from gptviz.ui.panels.norms import NormsPanel
    gone = _shown_panel_in_a_cycle(NormsPanel)
    for _ in range(gc.get_threshold()[0] + 10):          # past generation 0's threshold
        _Cycle([])
    qtbot.waitUntil(lambda: gone() is None, timeout=5000)
