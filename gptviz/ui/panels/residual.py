"""Residual stream: its norm after every layer at every position, and what each block's attention and
MLP added to it."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..widgets.common import note, plot_view, stack
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("inferno")
ROWS = (("resid_norm", "‖residual stream‖"), ("attn_norm", "‖attention output‖"), ("mlp_norm", "‖MLP output‖"))


class ResidualPanel(QWidget):
    export_table = "residual"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = plot_view()
        self.plots, self.imgs, self.axes = {}, {}, {}
        for row, (key, title) in enumerate(ROWS):
            xa, ya = TokenAxis("bottom", cells=True), TokenAxis("left", max_chars=8, cells=True)
            p = self.view.addPlot(row=row, col=0, title=title, axisItems={"bottom": xa, "left": ya})
            p.invertY(True)
            p.setMenuEnabled(False)
            p.setMouseEnabled(False, False)
            p.hideButtons()
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(CMAP)
            p.addItem(img)
            if row:
                p.setXLink(self.plots["resid_norm"])
            self.plots[key], self.imgs[key], self.axes[key] = p, img, (xa, ya)
        self.readout = note("Colour: L2 norm (each map scaled to its own maximum). Hover for values.")
        stack(self, self.view, self.readout, stretch=self.view)
        self.frame = None
        self.view.scene().sigMouseMoved.connect(self._hover)

    def show_frame(self, frame) -> None:
        if frame.resid_norm is None:
            return
        self.frame = frame
        labels = [p.text for p in frame.tokens]
        for key, _ in ROWS:
            a = getattr(frame, key)                              # (rows, T)
            self.imgs[key].setImage(a, autoLevels=False, levels=(0, max(float(a.max()), 1e-9)))
            xa, ya = self.axes[key]
            xa.set_labels(labels)
            ya.set_labels((["embed"] if key == "resid_norm" else []) + [f"block {i}" for i in range(
                a.shape[0] - (1 if key == "resid_norm" else 0))])
            self.plots[key].setRange(xRange=(0, frame.T), yRange=(0, a.shape[0]), padding=0.01)

    def _hover(self, pos) -> None:
        if self.frame is None:
            return
        for key, title in ROWS:
            p = self.plots[key]
            if p.sceneBoundingRect().contains(pos):
                v = p.vb.mapSceneToView(pos)
                r, c = int(v.y()), int(v.x())
                a = getattr(self.frame, key)
                if 0 <= r < a.shape[0] and 0 <= c < a.shape[1]:
                    row = "embedding" if key == "resid_norm" and r == 0 else \
                        f"block {r - 1 if key == 'resid_norm' else r}"
                    self.readout.setText(f"{title}, {row}, #{c} {self.frame.tokens[c].text}: {a[r, c]:.3f}")
