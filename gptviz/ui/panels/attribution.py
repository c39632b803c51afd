"""Direct logit attribution: how much the embeddings, every attention head and every MLP wrote toward one
next-token logit (through the final norm's frozen scale), parts that add up to the logit exactly."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ...views.interventions import Attribution
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("CET-D1")          # diverging: blue pushes the logit down, red up, white nothing
POS, NEG = "#dc2626", "#2563eb"
HINT = "Red raises the logit, blue lowers it. Hover a cell or bar for its value; click a head to show it."


class AttributionPanel(QWidget):
    export_table = "attribution"
    attr, title, dock, area, place = "attribution", "Logit attribution", "attribution", "right", ("tab", "next")

    headClicked = Signal(int, int)           # layer, head
    mlpMenuRequested = Signal(int, object)   # layer, global screen position (a right-click on its bar)
    changed = Signal()                       # another token to explain: the window asks again

    def __init__(self, parent=None):
        super().__init__(parent)
        self.token = None                     # None: the most likely next token
        self.choice = QComboBox()
        self.choice.setToolTip("Which next token's logit to explain: the most likely one, or another candidate")
        self.choice.addItem("most likely next token", None)
        self.choice.activated.connect(self._chosen)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("explain"))
        controls.addWidget(self.choice, 1)
        self.view = plot_view()
        self.hx, self.hy = TokenAxis("bottom", cells=True), TokenAxis("left", max_chars=8, cells=True)
        self.hplot = fixed_plot(self.view, 0, 0, "heads (layer × head)", {"bottom": self.hx, "left": self.hy},
                                invert_y=True)
        self.img = pg.ImageItem(axisOrder="row-major")
        self.img.setColorMap(CMAP)
        self.hplot.addItem(self.img)
        self.cbar = pg.ColorBarItem(values=(-1, 1), colorMap=CMAP, interactive=False, width=12)
        self.cbar.setImageItem(self.img, insert_in=self.hplot)
        self.cbar.getAxis("right").enableAutoSIPrefix(False)
        self.mx = TokenAxis("bottom", cells=False)
        self.mplot = fixed_plot(self.view, 1, 0, "MLPs (one bar per layer)", {"bottom": self.mx})
        self.mplot.getAxis("left").enableAutoSIPrefix(False)
        self.mplot.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#9ca3af")))
        self.mbars = pg.BarGraphItem(x=[], height=[], width=0.7, brushes=[], pen=None)
        self.mplot.addItem(self.mbars)
        self.caption = note("")
        self.readout = note(HINT)
        stack(self, controls, self.view, self.caption, self.readout, stretch=self.view)
        self.result = None
        self.view.scene().sigMouseMoved.connect(self._hover)
        self.view.scene().sigMouseClicked.connect(self._clicked)
        on_leave(self.view, lambda: self.readout.setText(HINT))

    # ---------- which token ----------
    def offer(self, result) -> None:
        """The next-token panel's candidates (any result with top_ids/top_pieces from NextToken) fill the
        chooser; the chosen id stays chosen while it is among them."""
        if type(result.view).__name__ != "NextToken" or not hasattr(result, "top_ids"):
            return
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItem("most likely next token", None)
        for r, (i, p) in enumerate(zip(result.top_ids, result.top_pieces)):
            self.choice.addItem(f"#{r + 1} “{p.text}” [{int(i)}]", int(i))
        idx = self.choice.findData(self.token) if self.token is not None else 0
        self.choice.setCurrentIndex(max(idx, 0))
        self.choice.blockSignals(False)

    def explain(self, token: int | None) -> None:
        """Explain `token` (None: the most likely next token) and ask the window for it."""
        self.token = token
        idx = self.choice.findData(token) if token is not None else 0
        if idx >= 0:
            self.choice.setCurrentIndex(idx)
        self.changed.emit()

    def _chosen(self, idx: int) -> None:
        self.explain(self.choice.itemData(idx))

    def wants(self, state):
        return Attribution(token=self.token)

    # ---------- drawing ----------
    def numbers(self):
        f = self.result
        L, H = f.heads.shape
        rows = [["embed", "", "", float(f.embed)]]
        rows += [["head", layer, h, float(f.heads[layer, h])] for layer in range(L) for h in range(H)]
        rows += [["attn_bias", layer, "", float(f.attn_bias[layer])] for layer in range(L)]
        rows += [["mlp", layer, "", float(f.mlps[layer])] for layer in range(L)]
        rows += [["bias", "", "", float(f.bias)]]
        return (["component", "layer", "head", "contribution"], rows,
                [prompt_comment(f), f"# token: {f.token} {f.token_piece.text!r} at position {f.position}",
                 f"# logit: {f.logit!r}", f"# sum of parts: {f.total!r}"]
                + ([f"# refused: {f.refused}"] if f.refused else []))

    def show_result(self, frame, state=None) -> None:
        self.result = frame
        if frame is None:
            self.caption.setText("Type a prompt to see what makes the next token likely.")
            return
        L, H = frame.heads.shape
        heads = np.asarray(frame.heads, np.float32)
        lim = max(float(np.abs(heads).max()), 1e-6)                       # symmetric: white is exactly 0
        self.img.setImage(heads, autoLevels=False)
        self.cbar.setLevels(low=-lim, high=lim)
        self.hx.set_labels([f"h{h}" for h in range(H)])
        self.hy.set_labels([f"L{layer}" for layer in range(L)])
        self.hplot.setRange(xRange=(0, H), yRange=(0, L), padding=0.01)
        m = np.asarray(frame.mlps, float)
        self.mbars.setOpts(x=np.arange(L), height=m, width=0.7,
                           brushes=[pg.mkBrush(POS if v >= 0 else NEG) for v in m])
        self.mx.set_labels([f"L{layer}" for layer in range(L)])
        self.mplot.setXRange(-0.6, L - 0.4, padding=0)
        top = max(float(np.abs(m).max()), 1e-6)
        self.mplot.setYRange(-top * 1.1, top * 1.1, padding=0)
        self.caption.setText(self.describe())

    def describe(self) -> str:
        f = self.result
        what = f"“{f.token_piece.text}” [{f.token}] after position {f.position}"
        if f.refused:
            return f"Logit of {what}: {f.logit:.4f}. No decomposition: {f.refused}"
        return (f"Logit of {what}: {f.logit:.4f}; the parts sum to {f.total:.4f} exactly — embeddings "
                f"{f.embed:+.3f}, heads {float(f.heads.sum()):+.3f}, attention biases {float(f.attn_bias.sum()):+.3f}, "
                f"MLPs {float(f.mlps.sum()):+.3f}, final biases {f.bias:+.3f} (final norm scale {f.norm_scale:.3f}).")

    # ---------- pointer ----------
    def _head_at(self, pos):
        if self.result is None or not self.hplot.vb.sceneBoundingRect().contains(pos):
            return None
        v = self.hplot.vb.mapSceneToView(pos)
        layer, h = int(np.floor(v.y())), int(np.floor(v.x()))
        L, H = self.result.heads.shape
        return (layer, h) if 0 <= layer < L and 0 <= h < H else None

    def _mlp_at(self, pos):
        if self.result is None or not self.mplot.vb.sceneBoundingRect().contains(pos):
            return None
        layer = int(round(self.mplot.vb.mapSceneToView(pos).x()))
        return layer if 0 <= layer < len(self.result.mlps) else None

    def _hover(self, pos) -> None:
        hit, layer = self._head_at(pos), self._mlp_at(pos)
        if hit is not None:
            self.readout.setText(f"layer {hit[0]} head {hit[1]}: {float(self.result.heads[hit]):+.4f} "
                                 "(right-click in All heads to ablate it)")
        elif layer is not None:
            self.readout.setText(f"MLP of layer {layer}: {float(self.result.mlps[layer]):+.4f} "
                                 "(right-click to ablate it)")
        else:
            self.readout.setText(HINT)

    def _clicked(self, ev) -> None:
        hit, layer = self._head_at(ev.scenePos()), self._mlp_at(ev.scenePos())
        if ev.button() == Qt.LeftButton and hit is not None:
            self.headClicked.emit(*hit)
        elif ev.button() == Qt.RightButton and layer is not None:
            self.mlpMenuRequested.emit(layer, ev.screenPos().toPoint())
