"""Small building blocks every panel uses: a muted explanatory label, the panel's vertical layout,
its white plot canvas and a plot that stays where it is drawn."""
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


def fixed_plot(view: pg.GraphicsLayoutWidget, row: int = 0, col: int = 0, title: str | None = None,
               axes: dict | None = None, invert_y: bool = False) -> pg.PlotItem:
    """A plot in `view` with no context menu, panning or zooming: its bars and cells are clicked, and a
    drag would move them away from their labels."""
    p = view.addPlot(row=row, col=col, title=title, axisItems=axes)
    p.invertY(invert_y)
    p.setMenuEnabled(False)
    p.setMouseEnabled(False, False)
    p.hideButtons()
    return p
