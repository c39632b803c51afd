"""Clear a hover read-out when the mouse leaves the widget it describes."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject


class _LeaveFilter(QObject):
    def __init__(self, callback, parent):
        super().__init__(parent)
        self.callback = callback

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Leave:
            self.callback()
        return False


def on_leave(widget, callback) -> None:
    """Call `callback()` when the mouse leaves `widget` (and, for a graphics view, its viewport)."""
    f = _LeaveFilter(callback, widget)
    widget.installEventFilter(f)
    viewport = getattr(widget, "viewport", None)
    if callable(viewport):
        viewport().installEventFilter(f)
