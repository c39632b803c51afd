"""All heads at a glance: every layer x head pattern as a thumbnail; clicking one selects it.

Local / sliding-window layers draw the keys before their band in the mask colour and are labelled
("local 256"); with grouped-query attention, brackets over the grid join the query heads that read
one K/V head."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from ..widgets.common import fixed_plot, note, plot_view, stack
from ..widgets.indexed_image import IndexedImage
from .attention import CMAP
from ...views import Overview
from ...views.attention import gap_of, thumbnail_masks  # noqa: F401 (thumbnail_masks re-exported)
from .head_stats import BADGES, stats_table

MIN_THUMB_PX = 24          # the panel's minimum size keeps a thumbnail at least this many pixels wide
AXES_PX = 60               # room the axes and their labels take beside the mosaic
MAX_MIN_PX = 420           # a deep, wide model gets smaller thumbnails rather than a panel that crowds out the rest


class HeadsPanel(QWidget):
    export_table = "head_stats"
    attr, title, dock, area, place = "heads", "All heads", "heads", "right", ("split", "next")

    headClicked = Signal(int, int)     # layer, head
    headMenuRequested = Signal(int, int, object)   # layer, head, screen position (right-click)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = plot_view()
        self.plot = fixed_plot(self.view, invert_y=True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("left", "layer")
        self.plot.setLabel("bottom", "head")
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)   # layer and head numbers are integers
        self.img = IndexedImage(CMAP)          # the worker's mosaic of colour indices (views.attention.mosaic)
        self.plot.addItem(self.img)
        self.sel = QGraphicsRectItem()
        self.sel.setPen(QPen(QColor("#ef4444"), 0))
        self.sel.hide()
        self.plot.addItem(self.sel)
        # what the empty grid says (before the first frame, or for an empty prompt), centred in the view
        self.empty = pg.TextItem("waiting for the model…", color="#6b7280", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty)
        # K/V groups (GQA): a bracket over each group of query heads, and a line between groups
        self.groups = pg.PlotCurveItem(pen=pg.mkPen("#0f766e", width=2), connect="pairs")
        self.plot.addItem(self.groups)
        self.group_labels: list[pg.TextItem] = []
        self.view.scene().sigMouseClicked.connect(self._click)
        legend = note("Each thumbnail is scaled to its own maximum; grey is the causal mask (and, in local / "
                      "sliding-window layers, the keys before the window). Teal brackets join query heads that "
                      "share one K/V head. Click to select.")
        stack(self, self.view, legend, stretch=self.view)
        self.shape = (0, 0)
        self.labels: list[pg.TextItem] = []
        self.tile, self.t = 1, 1
        self.selected = (0, 0)
        self.kv_groups: list[list[int]] = []
        self.masks = np.zeros((0, 0, 0), bool)
        self.result = None
        self.view.setMinimumSize(200, 160)     # until a frame says how many heads there are
        self._show_empty("waiting for the model…")

    def _show_empty(self, message: str) -> None:
        """No thumbnails: no image, badges, selection box or tick numbers, just the message."""
        self.img.clear()
        self.shape = (0, 0)
        for t in self.labels + self.group_labels:
            t.hide()
        self.groups.setData([], [])
        self.sel.hide()
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks([[]])
        self.plot.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.empty.setText(message)
        self.empty.setPos(0.5, 0.5)
        self.empty.show()

    def wants(self, state):
        return Overview()

    def numbers(self):
        cfg = getattr(getattr(self, 'state', None), 'info', None)
        return stats_table(self.result, getattr(cfg, 'config', None))

    def show_result(self, frame, state=None) -> None:
        self.result = frame
        th = frame.thumbnails                 # (L, H, t, t)
        if not th.size:
            self._show_empty("type a prompt to see every head's pattern")
            return
        self.empty.hide()
        L, H, t, _ = th.shape
        size = t + gap_of(t)
        self.state = state
        cfg = getattr(getattr(state, "info", None), "config", None)
        windows = [cfg.window(i) if cfg is not None and i < cfg.n_layer else None for i in range(L)]
        self.masks = frame.masks                                           # (L, t, t) bool
        # each tile scaled to its own max and masked in the worker: only the upload is left here
        mosaic = frame.mosaic
        self.img.show_indices(mosaic, th)
        self.shape, self.tile, self.t = (L, H), size, t
        self._show_badges(frame.head_stats, L, H, size)
        # local layers say so beside their number: GPT-Neo's global/local alternation reads at a glance
        self.plot.getAxis("left").setTicks([[(i * size + t / 2, str(i) if w is None else f"{i} local {w}")
                                             for i, w in enumerate(windows)]])
        self._show_groups(cfg, L, H, size, t)
        self.plot.getAxis("bottom").setTicks([[(j * size + t / 2, str(j)) for j in range(H)]])
        top = -max(2.0, t / 8) * (5 if self.kv_groups else 0)             # room for the K/V brackets and labels
        self.plot.vb.setRange(xRange=(0, mosaic.shape[1]), yRange=(top, mosaic.shape[0]), padding=0.02)
        per_tile = MIN_THUMB_PX * size / t                                 # a thumbnail and its gap
        self.view.setMinimumSize(min(int(H * per_tile) + AXES_PX, MAX_MIN_PX),
                                 min(int(L * per_tile) + AXES_PX, MAX_MIN_PX))
        self.set_selected(*self.selected)

    def _show_groups(self, cfg, L: int, H: int, size: int, t: int) -> None:
        """A bracket above each K/V head's query heads and a line down the gap between groups (GQA only)."""
        groups = [] if cfg is None or cfg.n_kv_head >= cfg.n_head or cfg.n_head != H else \
            [[j for j in range(H) if cfg.kv_head_of(j) == g] for g in range(cfg.n_kv_head)]
        xs, ys = [], []
        top, bottom = -max(2.0, t / 8), L * size - (size - t)
        for heads in groups:
            x0, x1 = heads[0] * size, heads[-1] * size + t
            xs += [x0, x1, x0, x0, x1, x1]                                 # bracket: bar and two ticks
            ys += [top, top, top, 0, top, 0]
            if heads[-1] < H - 1:                                          # separator in the gap after the group
                xs += [x1 + (size - t) / 2] * 2
                ys += [0, bottom]
        self.groups.setData(xs, ys)
        while len(self.group_labels) < len(groups):
            label = pg.TextItem(color="#0f766e", anchor=(0.5, 1))
            self.plot.addItem(label)
            self.group_labels.append(label)
        for g, label in enumerate(self.group_labels):
            if g < len(groups):
                label.setText(f"kv {g}")
                label.setPos((groups[g][0] * size + groups[g][-1] * size + t) / 2, top)
                label.show()
            else:
                label.hide()
        self.kv_groups = groups

    def _show_badges(self, stats, L: int, H: int, size: int) -> None:
        """P / I / S letters on heads whose statistics mark them as previous-token, induction or sink heads."""
        while len(self.labels) < L * H:
            t = pg.TextItem(color="#dc2626", anchor=(1, 0))
            t.setZValue(10)
            self.plot.addItem(t)
            self.labels.append(t)
        flags = [(b, np.nan_to_num(stats[key]) > thr) for b, key, thr in BADGES]   # one test per badge, not per head
        for n, t in enumerate(self.labels):
            if n < L * H:
                i, j = divmod(n, H)
                text = "".join(b for b, f in flags if f[i, j])
                if t.textItem.toPlainText() != text:
                    t.setText(text)
                t.setPos((j + 1) * size - 1, i * size)
                t.setVisible(bool(text))            # an empty item still costs a paint
            else:
                t.hide()

    def set_selected(self, layer: int, head: int) -> None:
        self.selected = (layer, head)
        if self.shape[0]:
            s, t = self.tile, self.t
            self.sel.setRect(QRectF(head * s - 0.5, layer * s - 0.5, t + 1, t + 1))
            self.sel.show()

    def tile_at(self, scene_pos) -> tuple[int, int] | None:
        if not self.shape[0]:
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        i, j = int(p.y() // self.tile), int(p.x() // self.tile)
        return (i, j) if 0 <= i < self.shape[0] and 0 <= j < self.shape[1] else None

    def _click(self, ev) -> None:
        hit = self.tile_at(ev.scenePos())
        if hit is not None and ev.button() == Qt.RightButton:
            self.headMenuRequested.emit(*hit, ev.screenPos().toPoint())
        elif hit is not None:
            self.headClicked.emit(*hit)

