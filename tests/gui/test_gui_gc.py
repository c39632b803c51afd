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
