"""The prompt editor and the debouncer that turns keystrokes into requests."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit


class Debouncer(QObject):
    """Fires `delay_ms` after the last poke, but never later than `max_delay_ms` after the first,
    so continuous typing still refreshes."""
    fire = Signal()

    def __init__(self, delay_ms: int = 100, max_delay_ms: int = 300, parent=None):
        super().__init__(parent)
        self.delay_ms, self.max_delay_ms = delay_ms, max_delay_ms
        self.first: float | None = None       # perf_counter of the first unserved poke
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)

    def poke(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        left = self.max_delay_ms - (now - self.first) * 1e3
        self._timer.start(int(max(0, min(self.delay_ms, left))))

    def _fire(self) -> None:
        self.fire.emit()
        self.first = None


class PromptEditor(QPlainTextEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.2)
        self.setFont(f)
        self.setPlaceholderText("Type a prompt…  (drop a checkpoint file on the window to open it)")
        self.setTabChangesFocus(True)
