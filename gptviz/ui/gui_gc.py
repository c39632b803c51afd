"""Python's cyclic garbage collector runs only on the GUI thread.

Left automatic, a collection runs in whichever thread happens to allocate. When the worker thread
collected a cycle holding Qt widgets (a closed window, a dialog), the widgets' C++ destructors ran
in the worker: once a segfault, and once a deadlock seen in the test suite (the worker inside
~QObject waiting for the GIL, the GUI thread holding it and waiting for that object's Qt lock).
pyqtgraph's GarbageCollector disables automatic collection and collects on a GUI-thread timer,
a generation at a time as thresholds are passed (reference counting still frees everything else
at once).
"""
from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def collect_on_gui_thread() -> None:
    """Start the timer once per process; call on the GUI thread after the QApplication exists."""
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=1.0)
