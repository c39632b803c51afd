"""A wrapped note whose minimum height is the height its text needs at its current width.

QLabel's own minimum for wrapped text is one short line, so a panel squeezed to its minimum size (a
dock scrolls its panel at that size) drew the caption over the plot above it.
"""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy


class FitNote(QLabel):
    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setWordWrap(True)
        self.setStyleSheet("color: #374151;")
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)

    def minimumSizeHint(self):
        s = super().minimumSizeHint()
        if self.width() > 0:
            s.setHeight(max(s.height(), self.heightForWidth(self.width())))
        return s

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if e.oldSize().width() != e.size().width():
            self.updateGeometry()               # a new width wraps into a different number of lines
