"""Embedding and positional-encoding norms per position: ||wte[token]||, ||wpe[pos]|| and ||sum||."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..widgets.common import note, stack
from ..widgets.token_axis import TokenAxis

SERIES = (("token_embedding_norm", "‖token embedding‖", "#2563eb"),
          ("position_embedding_norm", "‖position embedding‖", "#f59e0b"),
          ("input_norm", "‖sum‖ (block input)", "#059669"))


class NormsPanel(QWidget):
    export_table = "norms"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.axis = TokenAxis("bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis})
        self.plot.setBackground("w")
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.plot.setLabel("left", "L2 norm")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(-10, 10))
        self.curves = {key: self.plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                           symbolBrush=color, symbolPen=None, name=name)
                       for key, name, color in SERIES}
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#9ca3af", style=pg.QtCore.Qt.DashLine))
        self.cursor.hide()
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self.readout = note("Hover a position to read its norms.")
        stack(self, self.plot, self.readout, stretch=self.plot)
        self.frame = None
        self.plot.scene().sigMouseMoved.connect(self._hover)

    def show_frame(self, frame) -> None:
        self.frame = frame
        x = np.arange(frame.T)
        # markers and antialiased 2 px lines help on short prompts; on long ones they cost ~16 ms a curve per paint
        short = frame.T <= 128
        for key, _, color in SERIES:
            self.curves[key].setData(x, getattr(frame, key), symbol="o" if short else None, antialias=short,
                                     pen=pg.mkPen(color, width=2 if short else 1))
        self.axis.set_labels([p.text for p in frame.tokens])
        self.plot.setXRange(-0.5, max(frame.T - 0.5, 0.5), padding=0.02)
        self.plot.enableAutoRange(axis="y")

    def values_at(self, i: int) -> str:
        f = self.frame
        return (f"#{i} {f.tokens[i].text!s}:  ‖tok‖ {f.token_embedding_norm[i]:.3f}   "
                f"‖pos‖ {f.position_embedding_norm[i]:.3f}   ‖sum‖ {f.input_norm[i]:.3f}")

    def _hover(self, pos) -> None:
        if self.frame is None or not self.frame.T or not self.plot.sceneBoundingRect().contains(pos):
            return
        x = self.plot.getPlotItem().vb.mapSceneToView(pos).x()
        i = int(round(x))
        if 0 <= i < self.frame.T:
            self.cursor.setPos(i)
            self.cursor.show()
            self.readout.setText(self.values_at(i))
