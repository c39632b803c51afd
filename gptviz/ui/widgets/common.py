"""Small building blocks every panel uses: a muted explanatory label, the panel's vertical layout and
its white plot canvas."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget

from .fit_note import FitNote


def note(text: str = "") -> QLabel:
    """A wrapped, muted line of explanation or read-out under a plot; it keeps the height its text needs,
    so a squeezed panel scrolls instead of drawing the note over the plot."""
    return FitNote(text)


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


def plot_view() -> pg.GraphicsLayoutWidget:
    """The white canvas a panel's plots live in (white so exported figures print as shown)."""
    view = pg.GraphicsLayoutWidget()
    view.setBackground("w")
    return view
