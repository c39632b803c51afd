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
