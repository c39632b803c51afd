"""Embedding geometry: why GPT adds unscaled token embeddings to learned positions."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..widgets.common import note, plot_view, stack


class GeometryPanel(QWidget):
    export_table = "geometry"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = plot_view()
        self.norms = self.view.addPlot(row=0, col=0, title="‖position embedding‖ at every position")
        self.norms.setLabel("bottom", "position")
        self.norms.getAxis("left").enableAutoSIPrefix(False)
        self.norms.addLegend(offset=(-10, 10))
        self.norms.setLogMode(y=True)           # learned norms (~0.1-1) and the sinusoids' (~10) on one scale
        self.curve = self.norms.plot([], [], pen=pg.mkPen("#f59e0b", width=2), name="learned ‖wpe[p]‖")
        self.lines = {}
        for key, color, name in (("token_norm_median", "#2563eb", "median ‖token embedding‖ (GPT: added as is)"),
                                 ("token_norm_scaled_median", "#7c3aed", "√d_model × that (original Transformer)"),
                                 ("sinusoid_norm", "#059669", "sinusoidal encoding norm √(d/2)")):
            self.lines[key] = self.norms.plot([], [], pen=pg.mkPen(color, width=2, style=pg.QtCore.Qt.DashLine),
                                              name=name)
        self.cos = self.view.addPlot(row=1, col=0, title="cosine similarity of position embeddings")
        self.cos.invertY(True)
        self.cos.setAspectLocked(True)
        self.cos.setLabel("bottom", "position")
        self.cos.setLabel("left", "position")
        self.img = pg.ImageItem(axisOrder="row-major")
        self.img.setColorMap(pg.colormap.get("CET-D1"))
        self.cos.addItem(self.img)
        self.bar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get("CET-D1"), interactive=False)
        self.bar.setImageItem(self.img, insert_in=self.cos)
        self.caption = note("")
        stack(self, self.view, self.caption, stretch=self.view)
        self.geometry = None

    def set_geometry(self, g: dict) -> None:
        self.geometry = g
        n = g["position_norm"]
        T = len(n)
        self.curve.setData(np.arange(T), n)
        for key, line in self.lines.items():
            line.setData([0, T - 1], [g[key], g[key]])
        self.img.setImage(g["position_cosine"], autoLevels=False, levels=(-1, 1))
        tok, pos = g["token_norm_median"], float(np.median(n))
        self.caption.setText(
            f"Median norms in this model: token embedding {tok:.2f}, position embedding {pos:.2f} "
            f"(ratio {tok / max(pos, 1e-12):.1f}×). GPT adds the two unscaled and lets training set their relative "
            f"size. The original Transformer multiplied token embeddings by √d_model (→ {g['token_norm_scaled_median']:.1f}) "
            f"so that its fixed sinusoids, of norm {g['sinusoid_norm']:.1f}, would not swamp them.")
