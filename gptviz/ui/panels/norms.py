"""Embedding and positional-encoding norms per position: ||wte[token]||, ||wpe[pos]|| and ||sum||."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ...views import Norms
from ..state import prompt_comment
from ..widgets.common import stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

SERIES = (("token_embedding_norm", "‖token embedding‖", "#2563eb"),
          ("position_embedding_norm", "‖position embedding‖", "#f59e0b"),
          ("input_norm", "‖sum‖ (block input)", "#059669"))
HINT = "Hover a position to read its norms."
SHARED = "#dc2626"


class NormsPanel(QWidget):
    export_table = "norms"
    attr, title, dock, area, place = "norms", "Embedding and position norms", "norms", "left", None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.axis = TokenAxis("bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.axis})
        self.plot.setBackground("w")
        self.plot.showGrid(x=False, y=True, alpha=0.3)
        self.plot.setLabel("left", "L2 norm")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.legend = self.plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(255, 255, 255, 210))   # readable over the curves
        # a long prompt has more positions than the plot has pixels: draw each pixel column's min and max of the
        # positions in view only (pyqtgraph's "peak" downsampling), so spikes stay visible and panning is smooth
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.plot.getPlotItem().setClipToView(True)
        self.curves = {key: self.plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                           symbolBrush=color, symbolPen=None, name=name)
                       for key, name, color in SERIES}
        # tokens whose id shares its embedding row with other ids (e.g. ids training never saw)
        self.shared_marks = pg.ScatterPlotItem(symbol="x", size=13, pen=pg.mkPen(SHARED, width=2.5), brush=None,
                                               name="id shares its embedding row")
        self.plot.addItem(self.shared_marks)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#9ca3af", style=pg.QtCore.Qt.DashLine))
        self.cursor.hide()
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self.shared_note = note("")
        self.shared_note.setStyleSheet(f"color: {SHARED};")
        self.shared_note.hide()
        self.readout = note(HINT)
        stack(self, self.plot, self.shared_note, self.readout, stretch=self.plot)
        self.result = None
        self.shared_ids = np.zeros(0, dtype=np.int64)
        self.shared_positions = np.zeros(0, dtype=np.int64)
        self.plot.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.plot, self.clear_readout)

    def set_shared_ids(self, ids) -> None:
        """Ids whose token-embedding row is exactly shared with other ids (geometry's "shared_ids")."""
        self.shared_ids = np.asarray(ids if ids is not None else [], dtype=np.int64)
        self.clear_readout()                        # called on every model load: the old read-out is stale
        if self.result is not None:
            self._mark_shared()

    def wants(self, state):
        return Norms()

    def numbers(self):
        f, toks = self.result, self.result.tokens
        return (["position", "token_id", "token", "token_embedding_norm", "position_embedding_norm", "input_norm"],
                [[i, toks[i].id, toks[i].text, float(f.token_embedding_norm[i]), float(f.position_embedding_norm[i]),
                  float(f.input_norm[i])] for i in range(f.T)], [prompt_comment(f)])

    def show_result(self, frame, state=None) -> None:
        if self.result is None or not np.array_equal(self.result.token_ids, frame.token_ids):
            self.clear_readout()                    # the hovered position belonged to the old prompt
        self.result = frame
        # the range first and in one call: each range change re-clips and re-downsamples every curve's data,
        # so setting it after setData (x, then y) redid that work twice over 3 curves (~8 ms at 8,192 tokens)
        hi = max(frame.T - 0.5, 0.5)
        pad = (hi + 0.5) * 0.02                           # 2 % each side, as setXRange(padding=0.02) would
        top = max(float(np.max([getattr(frame, k).max() for k, _, _ in SERIES])) if frame.T else 1.0, 1e-6)
        # norms from 0, the top third left free for the legend
        self.plot.setRange(xRange=(-0.5 - pad, hi + pad), yRange=(0, top * 1.55), padding=0)
        x = np.arange(frame.T)
        # markers and antialiased 2 px lines help on short prompts; on long ones they cost ~16 ms a curve per paint
        short = frame.T <= 128
        for key, _, color in SERIES:
            self.curves[key].setData(x, getattr(frame, key), symbol="o" if short else None, antialias=short,
                                     pen=pg.mkPen(color, width=2 if short else 1))
        self.axis.set_labels([p.text for p in frame.tokens])
        self._mark_shared()

    def _mark_shared(self) -> None:
        f = self.result
        pos = np.flatnonzero(np.isin(f.token_ids, self.shared_ids))       # (S,) positions
        self.shared_positions = pos
        self.shared_marks.setData(pos, f.token_embedding_norm[pos])
        # the legend names the ✕ only for a model that has shared rows at all (the built-in v2 has none)
        listed = any(sample.item is self.shared_marks for sample, _ in self.legend.items)
        if len(self.shared_ids) and not listed:
            self.legend.addItem(self.shared_marks, "id shares its embedding row")
        elif not len(self.shared_ids) and listed:
            self.legend.removeItem(self.shared_marks)
        if not len(pos):
            self.shared_note.hide()
            return
        shown = ", ".join(f"#{i} {f.tokens[i].text}" for i in pos[:6]) + (" …" if len(pos) > 6 else "")
        self.shared_note.setText(
            f"✕ {shown}: these ids share their embedding row exactly with other ids ({len(self.shared_ids):,} ids "
            f"in this model do), so their ‖token embedding‖ is identical: training never moved those rows apart "
            f"(typically ids absent from the training text).")
        self.shared_note.show()

    def values_at(self, i: int) -> str:
        f = self.result
        shared = "  (shared embedding row)" if i in self.shared_positions else ""
        return (f"#{i} {f.tokens[i].text!s}:  ‖tok‖ {f.token_embedding_norm[i]:.3f}   "
                f"‖pos‖ {f.position_embedding_norm[i]:.3f}   ‖sum‖ {f.input_norm[i]:.3f}{shared}")

    def clear_readout(self) -> None:
        self.cursor.hide()
        self.readout.setText(HINT)

    def _hover(self, pos) -> None:
        if self.result is None or not self.result.T:
            return
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(pos):
            self.clear_readout()
            return
        i = int(round(vb.mapSceneToView(pos).x()))
        if 0 <= i < self.result.T:
            self.cursor.setPos(i)
            self.cursor.show()
            self.readout.setText(self.values_at(i))
        else:
            self.clear_readout()
