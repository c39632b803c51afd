"""Guards the PySide6 pin: a Qt binding that loses references to None on each signal aborts long sessions."""
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_signals_keep_none_refcount(qapp):
    e = _Emitter()
    got = []
    e.fired.connect(lambda x: got.append(x is None))
    before = sys.getrefcount(None)
    for _ in range(2000):
        e.fired.emit(None)
    assert len(got) == 2000
    assert sys.getrefcount(None) >= before - 100, "this PySide6 leaks None references per signal (see pyproject)"
