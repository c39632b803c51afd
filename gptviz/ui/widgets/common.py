"""Small building blocks every panel uses: a muted explanatory label and the panel's vertical layout."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget


def note(text: str = "") -> QLabel:
    """A wrapped, muted line of explanation or read-out under a plot."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #374151;")
    return label


def stack(parent: QWidget, *items, stretch=None) -> QVBoxLayout:
    """Lay out widgets and layouts top to bottom with the panels' margins; `stretch` takes the spare room."""
    lay = QVBoxLayout(parent)
    lay.setContentsMargins(4, 4, 4, 4)
    for item in items:
        if isinstance(item, QLayout):
            lay.addLayout(item)
        else:
            lay.addWidget(item, 1 if item is stretch else 0)
    return lay
