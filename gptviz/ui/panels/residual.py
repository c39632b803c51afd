"""Residual stream: its norm after every layer at every position, and what each block's attention and
MLP added to it."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QWidget

from ...views import Residual
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("inferno")
ROWS = (("resid_norm", "‖residual stream‖"), ("attn_norm", "‖attention output‖"), ("mlp_norm", "‖MLP output‖"))
HINT = "Colour: L2 norm, on the scale beside each map. Hover a cell for its value."


class ResidualPanel(QWidget):
    export_table = "residual"
    attr, title, dock, area, place = "residual", "Residual stream", "residual", "left", ("tab", "geometry")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.shared = QCheckBox("one scale for all three")
        self.shared.setToolTip("Colour all three maps on one scale (their common maximum), so their sizes compare; "
                               "off: each map uses its own maximum and shows its own detail")
        self.shared.toggled.connect(lambda _: self.result is not None and self._set_levels())
        self.view = plot_view()
        self.plots, self.imgs, self.axes, self.bars = {}, {}, {}, {}
        for row, (key, title) in enumerate(ROWS):
            xa, ya = TokenAxis("bottom", cells=True), TokenAxis("left", max_chars=8, cells=True)
            p = fixed_plot(self.view, row, 0, title, {"bottom": xa, "left": ya}, invert_y=True)
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(CMAP)
            p.addItem(img)
            bar = pg.ColorBarItem(values=(0, 1), colorMap=CMAP, interactive=False, width=12)
            bar.setImageItem(img, insert_in=p)
            bar.getAxis("right").enableAutoSIPrefix(False)
            if row:
                p.setXLink(self.plots["resid_norm"])
            self.plots[key], self.imgs[key], self.axes[key], self.bars[key] = p, img, (xa, ya), bar
        self.readout = note(HINT)
        stack(self, self.shared, self.view, self.readout, stretch=self.view)
        self.result = None
        self.view.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.view, self.clear_readout)

    def levels(self) -> dict[str, tuple[float, float]]:
        """Colour range of each map: its own maximum, or the largest of the three when they share a scale."""
        top = {key: max(float(getattr(self.result, key).max()), 1e-9) for key, _ in ROWS}
        common = max(top.values())
        return {key: (0.0, common if self.shared.isChecked() else top[key]) for key, _ in ROWS}

    def _set_levels(self) -> None:
        for key, (lo, hi) in self.levels().items():
            self.bars[key].setLevels(low=lo, high=hi)          # also sets the image's levels

    def wants(self, state):
        return Residual()

    def numbers(self):
        f, toks = self.result, self.result.tokens
        L = f.attn_norm.shape[0]
        return (["position", "token_id", "token", *[f"resid_{r}" for r in range(L + 1)],
                 *[f"attn_{r}" for r in range(L)], *[f"mlp_{r}" for r in range(L)]],
                [[i, toks[i].id, toks[i].text, *map(float, f.resid_norm[:, i]), *map(float, f.attn_norm[:, i]),
                  *map(float, f.mlp_norm[:, i])] for i in range(f.T)], [prompt_comment(f)])

    def show_result(self, frame, state=None) -> None:
        if self.result is None or not np.array_equal(self.result.token_ids, frame.token_ids) or \
                self.result.resid_norm.shape != frame.resid_norm.shape:
            self.clear_readout()
        self.result = frame
        labels = [p.text for p in frame.tokens]
        for key, _ in ROWS:
            a = getattr(frame, key)                              # (rows, T)
            self.imgs[key].setImage(a, autoLevels=False)
            xa, ya = self.axes[key]
            xa.set_labels(labels)
            ya.set_labels((["embed"] if key == "resid_norm" else []) + [f"block {i}" for i in range(
                a.shape[0] - (1 if key == "resid_norm" else 0))])
            self.plots[key].setRange(xRange=(0, frame.T), yRange=(0, a.shape[0]), padding=0.01)
        self._set_levels()

    def describe_cell(self, key: str, r: int, c: int) -> str:
        title = dict(ROWS)[key]
        a = getattr(self.result, key)
        row = "embedding" if key == "resid_norm" and r == 0 else f"block {r - 1 if key == 'resid_norm' else r}"
        return f"{title}, {row}, #{c} {self.result.tokens[c].text}: {a[r, c]:.3f}"

    def clear_readout(self) -> None:
        self.readout.setText(HINT)

    def _hover(self, pos) -> None:
        if self.result is None:
            return
        for key, _ in ROWS:
            vb = self.plots[key].vb
            if vb.sceneBoundingRect().contains(pos):
                v = vb.mapSceneToView(pos)
                r, c = int(np.floor(v.y())), int(np.floor(v.x()))
                a = getattr(self.result, key)
                if 0 <= r < a.shape[0] and 0 <= c < a.shape[1]:
                    self.readout.setText(self.describe_cell(key, r, c))
                    return
        self.clear_readout()
