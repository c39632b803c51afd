"""Logit lens: the top next-token guess read from the residual stream after each layer, per position."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..widgets.common import note, plot_view, stack
from ..widgets.token_axis import TokenAxis
from .attention import CMAP


class LogitLensPanel(QWidget):
    export_table = "logit_lens"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.xaxis, self.yaxis = TokenAxis("bottom", max_chars=8, cells=True), TokenAxis("left", max_chars=8, cells=True)
        self.view = plot_view()
        self.plot = self.view.addPlot(axisItems={"bottom": self.xaxis, "left": self.yaxis})
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "input token (the guess is for the token after it)")
        self.img = pg.ImageItem(axisOrder="row-major")
        self.img.setColorMap(CMAP)
        self.plot.addItem(self.img)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=CMAP, interactive=False, label="top-1 p")
        self.bar.setImageItem(self.img, insert_in=self.plot)
        self.texts: list[pg.TextItem] = []
        self.readout = note("Rows: the embedding, then the residual stream after each block, each read through "
                              "the final LayerNorm and unembedding; the last row is the model's prediction. "
                              "Hover a cell for its top 5.")
        stack(self, self.view, self.readout, stretch=self.view)
        self.frame = None
        self.view.scene().sigMouseMoved.connect(self._hover)
        self.plot.vb.sigResized.connect(lambda *_: self.frame is not None and self.show_frame(self.frame))

    def show_frame(self, frame) -> None:
        if frame.lens_ids is None:
            return
        self.frame = frame
        top1 = frame.lens_probs[:, :, 0]                          # (L+1, P)
        R, P = top1.shape
        self.img.setImage(top1, autoLevels=False, levels=(0, 1))
        self.xaxis.set_labels([frame.tokens[i].text for i in frame.lens_positions])
        self.yaxis.set_labels(["embed"] + [f"block {i}" for i in range(R - 1)])
        while len(self.texts) < R * P:
            t = pg.TextItem(anchor=(0.5, 0.5))
            self.plot.addItem(t)
            self.texts.append(t)
        # a label needs ~40 px; narrower cells are read by hovering
        labels = self.plot.vb.width() / max(P, 1) >= 40
        for n, t in enumerate(self.texts):
            if n < R * P and labels:
                r, c = divmod(n, P)
                t.setText(str(frame.lens_text[r, c, 0])[:8])
                t.setColor("#111827" if top1[r, c] > 0.5 else "#f9fafb")
                t.setPos(c + 0.5, r + 0.5)
                t.show()
            else:
                t.hide()
        self.plot.setRange(xRange=(0, P), yRange=(0, R), padding=0.01)

    def describe_cell(self, r: int, c: int) -> str:
        f = self.frame
        pos = int(f.lens_positions[c])
        row = "embedding" if r == 0 else f"after block {r - 1}"
        top = ", ".join(f"{f.lens_text[r, c, k]} {f.lens_probs[r, c, k]:.3f}" for k in range(f.lens_ids.shape[2]))
        return f"#{pos} {f.tokens[pos].text}, {row}: {top}"

    def _hover(self, pos) -> None:
        if self.frame is None or not self.plot.sceneBoundingRect().contains(pos):
            return
        p = self.plot.vb.mapSceneToView(pos)
        r, c = int(np.floor(p.y())), int(np.floor(p.x()))
        R, P = self.frame.lens_probs.shape[:2]
        if 0 <= r < R and 0 <= c < P:
            self.readout.setText(self.describe_cell(r, c))
