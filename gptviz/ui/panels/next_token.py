"""Next-token probabilities: top-k bar chart after softmax with temperature."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSpinBox, QWidget)

from ...views import NextToken
from ...views.interventions import AblationDelta, AblationDeltaResult
from ..state import prompt_comment
from ..widgets.common import stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

ROW_PX = 18           # each bar's row at least this tall, so every token label has room
AXIS_PX = 44          # the probability axis and its title below the bars


def _spin(cls, lo, hi, value, step=None, tip=""):
    w = cls()
    w.setRange(lo, hi)
    if step is not None:
        w.setSingleStep(step)
    w.setValue(value)
    w.setToolTip(tip)
    return w


class RankAxis(TokenAxis):
    """Labels every bar: the chart is made tall enough for all of them (it scrolls instead of thinning)."""

    def positions(self, minVal, maxVal, size):
        if not self.labels:
            return []
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        return [i for i in range(len(self.labels)) if lo <= i + self.offset <= hi]


class NextTokenPanel(QWidget):
    export_table = "next_token"
    attr, title, dock, area, place = "next_token", "Next token", "next", "right", None

    settingsChanged = Signal(float, int)     # temperature, k
    candidateClicked = Signal(int)           # rank of the bar clicked
    generateRequested = Signal(int, int, float, int)   # n, sampling top-k, top-p, seed
    stopRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.temperature = _spin(QDoubleSpinBox, 0.0, 5.0, 1.0, 0.1, "softmax(logits / T); 0 is greedy")
        self.k = _spin(QSpinBox, 1, 50, 10, tip="bars shown")
        self.temperature.valueChanged.connect(self._changed)
        self.k.valueChanged.connect(self._changed)
        controls = QHBoxLayout()
        for label, w in (("temperature", self.temperature), ("top-k", self.k)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addStretch(1)
        self.n = _spin(QSpinBox, 1, 1000, 20, tip="tokens to generate")
        self.sample_k = _spin(QSpinBox, 0, 50257, 40, tip="sample only among the k most probable (0: all)")
        self.top_p = _spin(QDoubleSpinBox, 0.05, 1.0, 0.95, 0.05, "nucleus: smallest set holding this much mass")
        self.seed = _spin(QSpinBox, 0, 2**31 - 1, 0, tip="random seed: the same seed gives the same text")
        self.generate = QPushButton("Generate")
        self.generate.clicked.connect(self._generate_clicked)
        # two short rows and the button below them: one long row was cut off in a narrow dock
        gen = QGridLayout()
        for i, (label, w) in enumerate((("n", self.n), ("top-k", self.sample_k), ("top-p", self.top_p),
                                        ("seed", self.seed))):
            gen.addWidget(QLabel(label), i // 2, 2 * (i % 2), Qt.AlignRight)
            gen.addWidget(w, i // 2, 2 * (i % 2) + 1)
        gen.addWidget(self.generate, 2, 0, 1, 4)
        gen.setColumnStretch(4, 1)

        self.axis = RankAxis("left", max_chars=14)
        self.plot = pg.PlotWidget(axisItems={"left": self.axis})
        self.plot.setBackground("w")
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "probability")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#6366f1", pen=None)
        self.plot.addItem(self.bars)
        self.highlight = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#4338ca", pen=None)
        self.plot.addItem(self.highlight)
        self.texts: list[pg.TextItem] = []
        self._axis_width = 0
        self.scroll = QScrollArea()            # many bars: the chart grows and this scrolls
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.plot)
        self.scroll.setMinimumHeight(3 * ROW_PX + AXIS_PX)
        self.caption = note("")                 # the summary, or the hovered bar's details
        self.summary = ""
        stack(self, controls, self.scroll, self.caption, gen, stretch=self.scroll)
        self.result = None
        self.delta: AblationDeltaResult | None = None   # with an ablation set: change against the clean run
        self.hovered = None
        self.plot.scene().sigMouseClicked.connect(self._bar_clicked)
        self.plot.scene().sigMouseMoved.connect(self._hover)
        self.plot.getPlotItem().vb.sigResized.connect(self._place_texts)
        on_leave(self.plot, self.clear_readout)

    def _changed(self, *_):
        self.settingsChanged.emit(self.temperature.value(), self.k.value())

    def wants(self, state):
        a = state.prompt.ablation
        if a is None:
            return NextToken(state.temperature, state.top_k)
        return NextToken(state.temperature, state.top_k), AblationDelta(a.heads, a.mlps, a.mode, state.top_k)

    def deltas(self) -> list[float | None]:
        """Ablated - clean log-probability of each bar shown (None without an ablation or not yet computed)."""
        f, d = self.result, self.delta
        if f is None or d is None or d.prompt != f.prompt or not np.array_equal(d.token_ids, f.token_ids):
            return [None] * (0 if f is None else len(f.top_ids))
        by_id = dict(zip(map(int, d.ids), map(float, d.delta)))
        return [by_id.get(int(i)) for i in f.top_ids]

    def numbers(self):
        f, ds = self.result, self.deltas()
        extra = any(d is not None for d in ds)
        rows = [[r, int(i), p.text, float(q)] + ([ds[r]] if extra else [])
                for r, (i, p, q) in enumerate(zip(f.top_ids, f.top_pieces, f.top_probs))]
        a = f.prompt.ablation if f.prompt is not None else None
        return (["rank", "token_id", "token", "probability"] + (["delta_logp_vs_clean"] if extra else []), rows,
                [prompt_comment(f), f"# temperature: {f.view.temperature}"]
                + ([f"# ablated: heads {list(a.heads)} MLPs {list(a.mlps)} mode {a.mode}"] if a else []))

    def show_result(self, frame, state=None) -> None:
        if isinstance(frame, AblationDeltaResult) or frame is None:
            self.delta = frame
            self._place_texts()
            return
        if frame.prompt is None or frame.prompt.ablation is None:
            self.delta = None
        old = self.result
        self.result = frame
        k = len(frame.top_ids)
        probs = frame.top_probs.astype(float)
        self.bars.setOpts(x0=np.zeros(k), y=np.arange(k), width=probs, height=0.7)
        self.axis.set_labels([p.text for p in frame.top_pieces])
        # the candidates' labels change every keystroke: left to itself the axis resized after each paint (a
        # relayout and a second paint); it widens to the widest label so far and stays, so the bars do not jump
        width = self.axis.fit_width()
        if width > self._axis_width:
            self._axis_width = width
            self.axis.setWidth(width)
        self.plot.setMinimumHeight(max(k, 1) * ROW_PX + AXIS_PX)
        while len(self.texts) < k:
            t = pg.TextItem(anchor=(0, 0.5))
            self.plot.addItem(t)
            self.texts.append(t)
        # never past 1.0: a probability has no room beyond it (labels that would overflow go inside the bar)
        xmax = float(probs.max()) if k else 1.0
        self.plot.setXRange(0, min(1.0, max(xmax * 1.35, 0.05)), padding=0)
        self.plot.setYRange(-0.6, max(k, 1) - 0.4, padding=0)
        self._place_texts()
        if old is None or not np.array_equal(old.top_ids, frame.top_ids) or \
                not np.array_equal(old.token_ids, frame.token_ids):
            self.clear_readout()
        elif self.hovered is not None and self.hovered < k:
            self.caption.setText(self.describe_bar(self.hovered))     # same bars, new probabilities
        if frame.T:
            last = frame.tokens[-1].text
            self.summary = (f"after “{last}” (position {frame.T - 1}), T = {frame.view.temperature:g}: top {k} "
                            f"hold {probs.sum() * 100:.1f}% of the mass. Hover a bar for details; click to append it.")
        else:
            self.summary = "Type a prompt to see the next-token distribution."
        if self.hovered is None:
            self.caption.setText(self.summary)

    def _place_texts(self, *_) -> None:
        """Percentage and id after each bar, or inside it (white) where it would run past the view."""
        if self.result is None:
            return
        k = len(self.result.top_ids)
        probs = self.result.top_probs.astype(float)
        vb = self.plot.getPlotItem().vb
        (x0, x1), _ = vb.viewRange()
        px_per_x = max(vb.width(), 1.0) / max(x1 - x0, 1e-9)
        fm = QFontMetricsF(self.texts[0].textItem.font()) if self.texts else None
        ds = self.deltas()
        for i, t in enumerate(self.texts):
            if i >= k:
                t.hide()
                continue
            s = f"{probs[i] * 100:.1f}%  [{int(self.result.top_ids[i])}]"
            if ds[i] is not None:
                s += f"  Δlog p {ds[i]:+.3f}"            # against the clean (unablated) model
            t.setText(s)
            need = (fm.horizontalAdvance(s) + 12) / px_per_x        # data units the text takes
            inside = probs[i] + need > x1
            t.setAnchor((1, 0.5) if inside else (0, 0.5))
            t.setColor("#ffffff" if inside else "#111827")
            t.setPos(probs[i], i)
            t.show()

    def describe_bar(self, rank: int) -> str:
        f = self.result
        p = float(f.top_probs[rank])
        logp = f"{math.log(p):.3f}" if p > 0 else "−∞"
        return (f"rank {rank + 1}: “{f.top_pieces[rank].text}”  id {int(f.top_ids[rank])}  "
                f"p {p:.4f} ({p * 100:.2f}%)  log p {logp}")

    def clear_readout(self) -> None:
        self.hovered = None
        self.highlight.setOpts(x0=[], y=[], width=[])
        self.caption.setText(self.summary)

    def _rank_at(self, scene_pos) -> int | None:
        if self.result is None or not len(self.result.top_ids):
            return None
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        rank = int(round(vb.mapSceneToView(scene_pos).y()))
        return rank if 0 <= rank < len(self.result.top_ids) else None

    def _hover(self, pos) -> None:
        rank = self._rank_at(pos)
        if rank is None:
            self.clear_readout()
            return
        self.hovered = rank
        self.highlight.setOpts(x0=[0], y=[rank], width=[float(self.result.top_probs[rank])], height=0.7)
        self.caption.setText(self.describe_bar(rank))

    def set_generating(self, on: bool) -> None:
        self.generate.setText("Stop" if on else "Generate")

    def _generate_clicked(self) -> None:
        if self.generate.text() == "Stop":
            self.stopRequested.emit()
        else:
            self.generateRequested.emit(self.n.value(), self.sample_k.value(), self.top_p.value(), self.seed.value())

    def _bar_clicked(self, ev) -> None:
        rank = self._rank_at(ev.scenePos())
        if rank is not None and self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos()).x() >= 0:
            self.candidateClicked.emit(rank)

    def rows(self) -> list[tuple[str, float]]:
        """(display form, probability) as shown, best first."""
        f = self.result
        return [] if f is None else [(p.text, float(q)) for p, q in zip(f.top_pieces, f.top_probs)]
