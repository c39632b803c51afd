"""Work for the GUI thread done one piece per event-loop turn.

Qt delivers every posted event in one pass before it looks at timers or input. The worker hands over the
first paint (tokens, next token, the selected head) as a burst of queued signals, so showing and painting
the three ran as one block: at 1,024 tokens (GPT-2 small, 2 cores) 25-41 ms in which no timer, key or
mouse event was served. One piece per turn keeps each block to one panel's show and paint (~10 ms)."""
from __future__ import annotations

from collections import deque
from typing import Callable

from PySide6.QtCore import QObject, QTimer


class Turns(QObject):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._todo: deque[Callable[[], None]] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next)

    def later(self, fn: Callable[[], None]) -> None:
        """Run `fn` in a later turn, after everything added before it."""
        self._todo.append(fn)
        if not self._timer.isActive():
            self._timer.start()

    def _next(self) -> None:
        if self._todo:
            fn = self._todo.popleft()
            try:
                fn()
            finally:
                if self._todo:
                    self._timer.start()

    def __len__(self) -> int:
        return len(self._todo)
