"""Attention: the selected head's T x T pattern (query rows, key columns) and a layer x head overview."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QCheckBox, QGraphicsRectItem, QHBoxLayout, QLabel, QSpinBox, QWidget

from ...views import Attention, AttentionWindow
from ...views.attention import PooledAttentionResult, before_window
from ..state import prompt_comment
from ..widgets.common import note, plot_view, stack
from ..widgets.heatmap_zoom import MASK_RGBA, follow_positions, window_for  # noqa: F401 (re-exported)
from ..widgets.indexed_image import IndexedImage
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("viridis")
HELP = "Hover a cell: query token → key token: p.  Click a row to highlight a query; ctrl/shift-click to sum rows."
POOLED_HELP = ("A long prompt: each cell is the largest p of its block of tokens. Wheel or drag to zoom: "
               "exact cells (and token labels) appear as they fit.")


class AttentionPanel(QWidget):
    export_table = "attention"
    attr, title, dock, area, place = "attention", "Attention", None, None, None    # the central widget

    layerChanged = Signal(int)
    windowChanged = Signal()           # a long prompt's zoomed-in region changed: its exact cells are wanted
    headSelected = Signal(int, int)    # layer, head
    queryChanged = Signal(object)      # position or None
    selectionChanged = Signal(object)  # sorted list of selected query positions

    def __init__(self, parent=None):
        super().__init__(parent)
        self.result = None
        self.n_layer, self.n_head = 1, 1
        self.head = 0
        self.layer = 0
        self.query: int | None = None
        self.result_tokens: list[int] = []
        self.selection: list[int] = []   # ctrl/shift-clicked queries whose attention is summed below
        self.zoom: PooledAttentionResult | None = None   # a long prompt's zoomed-in window (finer or exact cells)
        self.window: tuple[int, int, int, int] | None = None   # (q0, q1, k0, k1) in view, None: the whole
        self.band: int | None = None          # the shown layer's attention window (None: full causal)

        self.layer_box, self.head_box = QSpinBox(), QSpinBox()
        self.layer_box.setPrefix("layer ")
        self.head_box.setPrefix("head ")
        self.layer_box.valueChanged.connect(self._layer_box_changed)
        self.head_box.valueChanged.connect(self._head_box_changed)
        self.readout = note(HELP)
        controls = QHBoxLayout()
        controls.addWidget(self.layer_box)
        controls.addWidget(self.head_box)
        keys = QLabel("←/→ ↑/↓")          # short, so the controls fit a narrow window; the tooltip explains
        keys.setToolTip("With the heatmap focused: ←/→ the previous/next head, ↑/↓ the previous/next layer")
        controls.addWidget(keys)
        controls.addStretch(1)
        self.lock = QCheckBox("lock selection")
        self.lock.setToolTip("keep the ctrl/shift-clicked tokens selected while the prompt changes")
        controls.addWidget(self.lock)

        # --- heatmap ---
        self.view = plot_view()
        self.xaxis, self.yaxis = TokenAxis("bottom", cells=True), TokenAxis("left", cells=True)
        self.plot = self.view.addPlot(axisItems={"bottom": self.xaxis, "left": self.yaxis})
        self.plot.setLabel("bottom", "key (attended to)")
        self.plot.setLabel("left", "query")
        self.plot.invertY(True)
        # no aspect lock: a locked square leaves the key labels far below the matrix in a tall panel
        self.plot.setMenuEnabled(False)
        # the worker sends colour indices with the causal mask (and a local layer's band) baked in: one
        # image, drawn without colour-mapping on the GUI thread; zoom_img holds a long prompt's zoomed window
        self.img = IndexedImage(CMAP)
        self.zoom_img = IndexedImage(CMAP)
        self.zoom_img.hide()
        self.plot.addItem(self.img)
        self.plot.addItem(self.zoom_img)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(80)       # while the wheel turns, ask once it rests
        self._zoom_timer.timeout.connect(self._update_window)
        self.plot.vb.sigRangeChanged.connect(lambda *_: self.pooled and self._zoom_timer.start())
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=CMAP, interactive=False, label="attention p")
        # the colour bar gets its own column, so the heatmap and the summed bars below share one x extent;
        # it is not linked to the image (the indices are already levelled: levels would rescale them)
        self.view.addItem(self.bar, row=0, col=1)
        self.row_box = QGraphicsRectItem()
        self.row_box.setPen(QPen(QColor("#ef4444"), 0))
        self.row_box.hide()
        self.plot.addItem(self.row_box)
        # summed attention of the selected queries, over the keys (same x axis as the heatmap)
        self.sum_axis = TokenAxis("bottom", cells=True)
        self.sum_plot = self.view.addPlot(row=1, col=0, axisItems={"bottom": self.sum_axis})
        self.sum_plot.setMaximumHeight(130)
        self.sum_plot.setMenuEnabled(False)
        self.sum_plot.setMouseEnabled(False, False)
        self.sum_plot.hideButtons()                 # X follows the heatmap and the mouse is off: no auto-range button
        self.sum_plot.setLabel("left", "Σ p")
        self.sum_plot.setXLink(self.plot)
        self.sum_bars = pg.BarGraphItem(x0=[], width=1, height=[], y0=0, brush="#ef4444", pen=None)
        self.sum_plot.addItem(self.sum_bars)
        self.sum_plot.hide()
        self.sel_boxes: list[QGraphicsRectItem] = []
        self.view.scene().sigMouseMoved.connect(self._hover)
        self.view.scene().sigMouseClicked.connect(self._click)
        self.view.viewport().installEventFilter(self)     # the mouse leaving the plot clears the read-out

        stack(self, controls, self.view, self.readout, stretch=self.view)
        self.setFocusPolicy(Qt.StrongFocus)

    # --- model and frames ---
    def set_model(self, n_layer: int, n_head: int) -> None:
        self.n_layer, self.n_head = n_layer, n_head
        self.layer_box.setRange(0, n_layer - 1)
        self.head_box.setRange(0, n_head - 1)
        self.select(min(self.layer, n_layer - 1), min(self.head, n_head - 1))
        self.clear_readout()                   # the read-out described the previous model's cell

    @property
    def pooled(self) -> bool:
        return isinstance(self.result, PooledAttentionResult)

    def wants(self, state):
        # head: the one on screen, colour-indexed in the worker (not part of the memo key)
        if self.pooled and self.window is not None:
            return Attention(self.layer, self.head), AttentionWindow(self.layer, *self.window, head=self.head)
        return Attention(self.layer, self.head)

    def _update_window(self) -> None:
        (x0, x1), (y0, y1) = self.plot.vb.viewRange()
        w = window_for((x0, x1), (y0, y1), self.result.T) if self.pooled else None
        if w != self.window:
            self.window = w
            self.windowChanged.emit()

    def numbers(self):
        if self.pooled:
            raise ValueError(f"at {self.result.T} tokens the heatmap shows a pooled overview, not every cell; "
                             "the exact numbers of a region are its hover read-out when zoomed in")
        f, m = self.result, self.selected_matrix()
        if m is None:
            raise ValueError("the selected layer's attention is still being computed")
        toks = f.tokens
        label = [t.text for t in toks]
        return (["query_position", "query_token_id", "query_token", *[f"key {j} {label[j]}" for j in range(f.T)]],
                [[q, toks[q].id, label[q], *map(float, m[q])] for q in range(f.T)],
                [prompt_comment(f), f"# attention of layer {self.layer}, head {self.head}: rows are queries, "
                 "columns keys", "# key token ids: " + " ".join(str(t.id) for t in toks)])

    def show_result(self, frame, state=None) -> None:
        if isinstance(frame.view, AttentionWindow):
            self.zoom = frame                 # exact (or finer) cells of the zoomed-in region
            self._show_head()
            return
        new_T = self.result is None or self.result.T != frame.T or self.pooled != isinstance(
            frame, PooledAttentionResult)
        self.result = frame
        cfg = getattr(getattr(state, "info", None), "config", None)
        # the layer's attention window (local / sliding-window layers): keys before it are masked too
        self.band = cfg.window(frame.layer) if cfg is not None and frame.layer < cfg.n_layer else None
        T = frame.T
        labels = [p.text for p in frame.tokens]
        self.xaxis.set_labels(labels)
        self.yaxis.set_labels(labels)
        # both left axes equally wide: the summed bars then sit exactly under their key columns
        width = max(self.yaxis.fit_width(), 40)
        self.yaxis.setWidth(width)
        self.sum_plot.getAxis("left").setWidth(width)
        ids = [p.id for p in frame.tokens]
        if ids != self.result_tokens:
            # the highlighted row and a locked selection follow their tokens, not their positions
            moved = follow_positions(self.result_tokens, ids)
            query = moved.get(self.query) if self.query is not None else None
            self.selection = sorted(moved[q] for q in self.selection if q in moved) if self.lock.isChecked() else []
            self.result_tokens = ids
            self.clear_readout()
            if query != self.query:
                self.query = query
                self.queryChanged.emit(query)
        if self.pooled:
            self.readout.setText(POOLED_HELP)
        else:
            self.zoom, self.window = None, None
        self._show_head()
        if not self.pooled or new_T:          # a long prompt keeps its zoom while it is edited
            self.plot.setRange(xRange=(0, max(T, 1)), yRange=(0, max(T, 1)), padding=0.01)

    def selected_matrix(self) -> np.ndarray | None:
        """The (T, T) pattern on screen, or None while the frame is for another layer."""
        f = self.result
        if f is None or f.layer != self.layer or not f.T or self.pooled:
            return None
        return f.attention[self.head]

    def _show_head(self) -> None:
        if self.pooled:
            return self._show_pooled()
        self.zoom_img.hide()
        m = self.selected_matrix()
        if m is None:        # empty prompt, or the frame for the newly selected layer is on its way
            if self.result is not None and not self.result.T:
                self.img.clear()
                self._show_row()
                self._show_selection()
            return
        self.img.show_indices(self.result.image[self.head], m)
        self.img.setRect(QRectF(0, 0, len(m), len(m)))
        self._show_row()
        self._show_selection()

    def _show_pooled(self) -> None:
        """The whole pattern pooled, and over it the zoomed-in window when one for this layer has arrived."""
        f, z = self.result, self.zoom
        if f.layer != self.layer:
            return                            # the new layer's overview is on its way
        T = f.T
        self.img.show_indices(f.image[self.head], lambda: self._banded(f))
        self.img.setRect(QRectF(0, 0, T, T))
        if z is not None and z.layer == self.layer and np.array_equal(z.token_ids, f.token_ids) and z.pooled.size:
            self.zoom_img.show_indices(z.image[self.head], lambda: self._banded(z))
            q0, q1, k0, k1 = z.q_edges[0], z.q_edges[-1], z.k_edges[0], z.k_edges[-1]
            self.zoom_img.setRect(QRectF(k0, q0, k1 - k0, q1 - q0))
            self.zoom_img.show()
        else:
            self.zoom_img.hide()
        self._show_row()
        self._show_selection()

    def _banded(self, r) -> np.ndarray:
        """The head's pooled blocks as floats, NaN where the image shows the mask: every key of the block in
        the future, or before the layer's window (the image's indices come from the worker; this is for read-outs
        and tests)."""
        m = r.pooled[self.head]                                                # (nq, nk)
        before = before_window(r.q_edges, r.k_edges, self.band)               # (nq, nk) or None
        if before is None or not m.size:
            return m
        return np.where(before, np.nan, m)

    def pooled_value(self, q: int, k: int) -> str:
        """The finest number shown for cell (q, k): exact when a zoomed window holds it, else its block's max."""
        for r in (self.zoom, self.result):
            if r is None or r.layer != self.layer or not np.array_equal(r.token_ids, self.result.token_ids):
                continue
            i = int(np.searchsorted(r.q_edges, q, side="right")) - 1
            j = int(np.searchsorted(r.k_edges, k, side="right")) - 1
            if 0 <= i < r.pooled.shape[1] and 0 <= j < r.pooled.shape[2]:
                v = r.pooled[self.head, i, j]
                if r.q_edges[i + 1] - r.q_edges[i] == 1 and r.k_edges[j + 1] - r.k_edges[j] == 1:
                    return f"{v:.4f}"
                return (f"max {v:.4f} over queries #{r.q_edges[i]}–{r.q_edges[i + 1] - 1} × keys "
                        f"#{r.k_edges[j]}–{r.k_edges[j + 1] - 1}")
        return "…"

    def _show_row(self) -> None:
        if self.query is None or self.result is None:
            self.row_box.hide()
            return
        self.row_box.setRect(QRectF(0, self.query, self.result.T, 1))
        self.row_box.show()

    # --- selection ---
    def select(self, layer: int, head: int) -> None:
        layer = max(0, min(layer, self.n_layer - 1))
        head = max(0, min(head, self.n_head - 1))
        changed = layer != self.layer
        if changed or head != self.head:
            self.clear_readout()
        self.layer, self.head = layer, head
        for box, v in ((self.layer_box, layer), (self.head_box, head)):
            box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(False)
        self._show_head()
        self.headSelected.emit(layer, head)
        if changed:
            self.layerChanged.emit(layer)

    def set_query(self, pos: int | None) -> None:
        self.query = pos
        self._show_row()
        self.queryChanged.emit(pos)

    def summed_attention(self) -> np.ndarray | None:
        """(T,) attention of the selected queries summed, for the head on screen."""
        m = self.selected_matrix()
        if m is None or not self.selection:
            return None
        return m[self.selection].sum(axis=0)

    def toggle_query(self, pos: int) -> None:
        """Add a query to the multi-selection, or remove it. The first ctrl/shift-click also takes in the
        plainly clicked row, so the sum covers every boxed row."""
        if not self.selection and self.query is not None:
            self.selection = sorted({self.query, pos})
        else:
            self.selection = sorted(set(self.selection) ^ {pos})
        self._show_selection()
        self.selectionChanged.emit(list(self.selection))

    def _show_selection(self) -> None:
        total = self.summed_attention()
        for box in self.sel_boxes:
            box.hide()
        if total is None:
            self.sum_plot.hide()
            return
        T = len(total)
        self.sum_bars.setOpts(x0=np.arange(T), height=total, width=1)
        self.sum_axis.set_labels([p.text for p in self.result.tokens])
        self.sum_plot.setYRange(0, max(float(total.max()), 1e-6) * 1.05, padding=0)
        n = len(self.selection)
        # short: the title's width is a minimum width of the plot, and a long one pushes the colour bar
        # off a narrow panel (the axis label says what is summed: Σ p)
        self.sum_plot.setTitle(f"{n} selected token{'' if n == 1 else 's'}, summed", size="9pt")
        self.sum_plot.show()
        while len(self.sel_boxes) < len(self.selection):
            b = QGraphicsRectItem()
            b.setPen(QPen(QColor("#ef4444"), 0, Qt.DashLine))
            self.plot.addItem(b)
            self.sel_boxes.append(b)
        for b, q in zip(self.sel_boxes, self.selection):
            b.setRect(QRectF(0, q, T, 1))
            b.show()

    def _layer_box_changed(self, v: int) -> None:
        self.select(v, self.head)

    def _head_box_changed(self, v: int) -> None:
        self.select(self.layer, v)

    def keyPressEvent(self, e) -> None:
        step = {Qt.Key_Left: (0, -1), Qt.Key_Right: (0, 1), Qt.Key_Up: (-1, 0), Qt.Key_Down: (1, 0)}.get(e.key())
        if step is None:
            return super().keyPressEvent(e)
        self.select(self.layer + step[0], self.head + step[1])

    # --- mouse ---
    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        if self.result is None or not self.result.T or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        q, k = int(np.floor(p.y())), int(np.floor(p.x()))
        if 0 <= q < self.result.T and 0 <= k < self.result.T:
            return q, k
        return None

    def describe_cell(self, q: int, k: int) -> str:
        f = self.result
        m = self.selected_matrix()
        p = "masked (future)" if k > q else (f"{m[q, k]:.4f}" if m is not None else
                                             self.pooled_value(q, k) if self.pooled else "…")
        return f"L{self.layer} H{self.head}   #{q} {f.tokens[q].text} → #{k} {f.tokens[k].text}: {p}"

    def clear_readout(self) -> None:
        self.readout.setText(POOLED_HELP if self.pooled else HELP)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Leave:
            self.clear_readout()
        return False

    def _hover(self, pos) -> None:
        cell = self.cell_at(pos)
        if cell is None:
            self.clear_readout()        # off the matrix: a stale read-out would describe another cell
        else:
            self.readout.setText(self.describe_cell(*cell))

    def _click(self, ev) -> None:
        cell = self.cell_at(ev.scenePos())
        if cell is not None:
            if ev.modifiers() & (Qt.ControlModifier | Qt.ShiftModifier):
                self.toggle_query(cell[0])
            else:
                self.set_query(None if self.query == cell[0] else cell[0])
            self.setFocus()
