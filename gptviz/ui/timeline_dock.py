"""The Timeline dock: a step slider over a training run's snapshots and, across the snapshots, the prompt's loss
and the previous-token and induction scores (the best head's, and the selected head's), with the current step
marked. Clicking a plot jumps to the nearest snapshot. Drawing only: the scores arrive from the worker
(timeline_worker.py) one snapshot at a time."""
from __future__ import annotations

import html
import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QSlider, QToolButton,
                               QWidget)

from .widgets.common import fixed_plot, note, plot_view, stack

LOSS, PREV, IND, VAL = "#2563eb", "#ea580c", "#7c3aed", "#6b7280"
NO_REPEAT = ("Induction scores need a token that occurs twice: this prompt repeats none, so only the "
             "previous-token scores are drawn (write a phrase twice to see induction form).")
HINT = "Drag the slider or click a plot to load that snapshot; every panel updates for the same prompt."


def fmt_step(step: int) -> str:
    return str(step) if step < 10000 else f"{step / 1000:g}k"


def _set(item, x: np.ndarray, y: np.ndarray) -> None:
    """(N,) x and y with NaN gaps; nothing at all while no value is known (pyqtgraph warns on all-NaN data)."""
    if np.isfinite(y).any():
        item.setData(x, y)
    else:
        item.setData([], [])


def _nanmax(a: np.ndarray) -> float:
    return float(np.nanmax(a)) if not np.isnan(a).all() else float("nan")


def _cell(x) -> float | str:
    """A CSV cell: the number, or empty where it is unknown (NaN: not recorded, not scored, no repeat)."""
    return float(x) if x is not None and np.isfinite(x) else ""


class TimelineDock(QWidget):
    title = "Timeline"
    export_table = "timeline"
    jumpRequested = Signal(int)            # snapshot index

    def __init__(self, parent=None):
        super().__init__(parent)
        self.snaps: list = []
        self.scores: list = []             # per snapshot: timeline.Scores, or None until it arrives / if it failed
        self.errors: dict[int, str] = {}
        self.current: int | None = None    # index of the snapshot the worker's model is
        self.head = (0, 0)
        self._stale = False                # a head change while hidden: redraw when shown
        self.done = False
        self.swap_error: str | None = None
        self.val = np.zeros(0)             # (N,) held-out loss recorded while training, nats (NaN: none)
        self.prompt: str | None = None     # what the scores are of (set by the window with each scoring run)
        self.bos = False
        self.back, self.fwd = QToolButton(), QToolButton()
        self.back.setArrowType(Qt.LeftArrow)
        self.fwd.setArrowType(Qt.RightArrow)
        self.back.setToolTip("previous snapshot")
        self.fwd.setToolTip("next snapshot")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.slider.setTickInterval(1)                 # one notch per snapshot
        self.slider.setSingleStep(1)
        self.slider.setPageStep(1)
        self.slider.setMinimumWidth(120)
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(150)
        self.all_heads = QCheckBox("every head")
        self.all_heads.setToolTip("also draw each head's previous-token and induction curve (thin)")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(110)
        self.progress.setFormat("scoring %v/%m")
        self.progress.hide()
        top = QHBoxLayout()
        for w in (self.back, self.slider, self.fwd, self.step_label, self.all_heads, self.progress):
            top.addWidget(w, 3 if w is self.slider else 0)
        self.view = plot_view()
        self.view.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.view.setMinimumHeight(80)
        self.view.ci.setContentsMargins(2, 2, 2, 2)       # a short strip: every pixel to the curves
        self.view.ci.setSpacing(4)
        self.loss_plot = self._plot("loss (nats)", 0)
        self.score_plot = self._plot("score", 1)
        self.score_plot.setYRange(0, 1, padding=0.02)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(LOSS, width=2), symbol="o", symbolSize=5,
                                              symbolBrush=LOSS, symbolPen=None, connect="finite")
        self.val_curve = self.loss_plot.plot(pen=pg.mkPen(VAL, width=1, style=Qt.DashLine), connect="finite")
        self.prev_curve = self.score_plot.plot(pen=pg.mkPen(PREV, width=2), symbol="o", symbolSize=5,
                                               symbolBrush=PREV, symbolPen=None, connect="finite")
        self.ind_curve = self.score_plot.plot(pen=pg.mkPen(IND, width=2), symbol="o", symbolSize=5,
                                              symbolBrush=IND, symbolPen=None, connect="finite")
        self.head_prev = self.score_plot.plot(pen=pg.mkPen(PREV, width=1.5, style=Qt.DashLine), connect="finite")
        self.head_ind = self.score_plot.plot(pen=pg.mkPen(IND, width=1.5, style=Qt.DashLine), connect="finite")
        self.every: list = []              # thin per-head curves, made when "every head" is on
        self.markers = [pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#111827", width=1.5))
                        for _ in range(2)]
        for plot, m in zip((self.loss_plot, self.score_plot), self.markers):
            plot.addItem(m, ignoreBounds=True)
        self.note = note("")
        self.note.setTextFormat(Qt.RichText)
        self.note.hide()
        self.setToolTip(HINT)
        stack(self, top, self.view, self.note, stretch=self.view)
        self.slider.valueChanged.connect(self._slid)
        self.back.clicked.connect(lambda: self.slider.setValue(self.slider.value() - 1))
        self.fwd.clicked.connect(lambda: self.slider.setValue(self.slider.value() + 1))
        self.all_heads.toggled.connect(lambda _: self.redraw())
        self.view.scene().sigMouseClicked.connect(self._clicked)
        self._update_legend()

    def _plot(self, label: str, col: int):
        p = fixed_plot(self.view, 0, col)       # a click jumps; dragging would pan away from the steps
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setLabel("left", label)
        p.getAxis("left").enableAutoSIPrefix(False)
        return p

    # ---------- content ----------
    def set_snapshots(self, snaps) -> None:
        self.snaps = list(snaps)
        self.current = None
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.snaps) - 1)
        self.slider.blockSignals(False)
        n = len(self.snaps)
        every = max(1, int(np.ceil(n / 8)))       # at most ~8 step labels under each plot
        ticks = [(i, fmt_step(s.step)) for i, s in enumerate(self.snaps) if i % every == 0 or i == n - 1]
        for p in (self.loss_plot, self.score_plot):
            p.getAxis("bottom").setTicks([ticks, [(i, "") for i in range(n)]])
            p.setXRange(-0.3, n - 0.7, padding=0)
        val = [np.mean(list(s.info["val_loss"].values())) if s.info.get("val_loss") else np.nan for s in self.snaps]
        self.val = np.array(val, dtype=float)
        self.start_scores()

    def start_scores(self) -> None:
        """A new scoring run: the curves empty and refill as each snapshot's scores arrive."""
        self.scores = [None] * len(self.snaps)
        self.errors = {}
        self.done = False
        self.progress.setRange(0, len(self.snaps))
        self.progress.setValue(0)
        self.progress.setVisible(bool(self.snaps))
        self.redraw()

    def add_score(self, i: int, scores, msg: str) -> None:
        if not 0 <= i < len(self.scores):
            return
        self.scores[i] = scores
        if msg:
            self.errors[i] = msg
        self.progress.setValue(i + 1)
        self.redraw()

    def scores_done(self) -> None:
        self.done = True
        self.progress.hide()
        self._update_note()

    def set_current(self, i: int, move_slider: bool = True) -> None:
        """Snapshot `i` is loaded; the slider stays where it is while a newer request is on its way."""
        self.current = i
        if move_slider:
            self.slider.blockSignals(True)
            self.slider.setValue(i)
            self.slider.blockSignals(False)
        for m in self.markers:
            m.setValue(i)
        self.back.setEnabled(i > 0)
        self.fwd.setEnabled(i < len(self.snaps) - 1)
        self._update_label()
        self.swap_error = None
        self._update_note()

    def set_head(self, layer: int, head: int) -> None:
        self.head = (layer, head)
        if self.isVisible():
            self.redraw()
        else:                                   # hidden (no snapshot folder open): drawn when shown
            self._stale = True

    def showEvent(self, event) -> None:
        if self._stale:
            self._stale = False
            self.redraw()
        super().showEvent(event)

    def swap_failed(self, i: int, msg: str, move_slider: bool = True) -> None:
        """The snapshot could not be loaded: the slider goes back to the one still loaded."""
        s = self.snaps[i]
        self.swap_error = f"Could not load step {s.step} ({s.path.name}): {msg}"
        if self.current is not None:
            self.set_current(self.current, move_slider)
            self.swap_error = f"Could not load step {s.step} ({s.path.name}): {msg}. Still showing " \
                              f"step {self.snaps[self.current].step}."
        self._update_note()

    # ---------- export ----------
    @property
    def result(self):
        """What export.export_panel asks for before numbers(): nothing while no timeline is open."""
        return self.scores if self.snaps and self.prompt is not None else None

    def numbers(self):
        """(header, rows, comments) for export.save_table: one row per snapshot with its step, tokens seen, the
        prompt's loss, the held-out loss recorded in training, the best previous-token and induction head
        (layer, head, score) and every head's two scores (prev_L0H1, ind_L0H1); empty cells where unknown."""
        known = [s for s in self.scores if s is not None]
        if not known:
            why = next(iter(self.errors.values()), None) if self.errors else None
            raise ValueError(f"the timeline has no scores: {why}" if why else
                             "the timeline has no scores yet: wait until its scoring run ends")
        L, H = known[0].prev.shape
        heads = [(layer, head) for layer in range(L) for head in range(H)]
        header = ["step", "tokens_seen", "loss", "val_loss", "best_prev_layer", "best_prev_head", "best_prev_score",
                  "best_induction_layer", "best_induction_head", "best_induction_score",
                  *[f"prev_L{a}H{b}" for a, b in heads], *[f"ind_L{a}H{b}" for a, b in heads]]
        rows = []
        for snap, s, val in zip(self.snaps, self.scores, self.val):
            row = [snap.step, snap.info.get("tokens_seen", ""), _cell(s.loss if s else None), _cell(val)]
            if s is None or s.prev.shape != (L, H):
                rows.append(row + [""] * (len(header) - len(row)))
                continue
            for which in ("prev", "induction"):
                best = s.best(which)
                row += list(best) if best else ["", "", ""]
            rows.append(row + [_cell(s.prev[a, b]) for a, b in heads] + [_cell(s.induction[a, b]) for a, b in heads])
        comments = ["# prompt: " + json.dumps(self.prompt, ensure_ascii=False),
                    f"# prepend_bos: {str(self.bos).lower()}",
                    "# prev: mean attention on the previous token; ind: mean attention on the token after an "
                    "earlier occurrence of the current one (empty: the prompt repeats no token)",
                    "# val_loss: the held-out loss recorded in training, mean over its files (empty: none)"]
        comments += [f"# no scores for step {self.snaps[i].step}: {m}" for i, m in sorted(self.errors.items())]
        if len(known) + len(self.errors) < len(self.snaps):
            comments.append(f"# still scoring: {len(known)} of {len(self.snaps)} snapshots so far")
        return header, rows, comments

    # ---------- drawing ----------
    def curves(self) -> dict[str, np.ndarray]:
        """Every drawn curve, (N,) over the snapshots (NaN where no score is known): what the plots hold."""
        n, (layer, head) = len(self.snaps), self.head
        out = {k: np.full(n, np.nan) for k in ("loss", "best_prev", "best_induction", "head_prev", "head_induction")}
        for i, s in enumerate(self.scores):
            if s is None:
                continue
            out["loss"][i] = s.loss
            out["best_prev"][i], out["best_induction"][i] = _nanmax(s.prev), _nanmax(s.induction)
            if layer < s.prev.shape[0] and head < s.prev.shape[1]:
                out["head_prev"][i], out["head_induction"][i] = s.prev[layer, head], s.induction[layer, head]
        return out

    def redraw(self) -> None:
        c, x = self.curves(), np.arange(len(self.snaps), dtype=float)
        for item, key in ((self.loss_curve, "loss"), (self.prev_curve, "best_prev"), (self.ind_curve, "best_induction"),
                          (self.head_prev, "head_prev"), (self.head_ind, "head_induction")):
            _set(item, x, c[key])
        _set(self.val_curve, x, self.val if self.snaps else np.zeros(0))
        self._draw_every(x)
        self._update_legend()
        self._update_note()

    def _draw_every(self, x) -> None:
        known = [s for s in self.scores if s is not None]
        want = self.all_heads.isChecked() and known
        L, H = known[0].prev.shape if known else (0, 0)
        while len(self.every) > (2 * L * H if want else 0):
            self.score_plot.removeItem(self.every.pop())
        if not want:
            return
        for k in range(len(self.every), 2 * L * H):
            color = pg.mkColor(PREV if k % 2 == 0 else IND)
            color.setAlpha(70)
            item = self.score_plot.plot(pen=pg.mkPen(color, width=1), connect="finite")
            item.setZValue(-1)
            self.every.append(item)
        for k, item in enumerate(self.every):
            which, (layer, head) = ("prev", "induction")[k % 2], divmod(k // 2, H)
            _set(item, x, np.array([getattr(s, which)[layer, head] if s is not None else np.nan
                                    for s in self.scores]))

    def _update_legend(self) -> None:
        """The plots' titles are their legends (a separate legend row would not fit a 700 px window)."""
        layer, head = self.head
        def key(color, dash, text):
            return f'<span style="color:{color}">{"┅" if dash else "━"}</span>&nbsp;{html.escape(text)}'
        loss = [key(LOSS, False, "loss on the prompt")]
        if self.snaps and not np.isnan(self.val).all():
            loss.append(key(VAL, True, "held-out, recorded in training"))
        score = [key(PREV, False, "best previous-token"), key(IND, False, "best induction"),
                 key(PREV, True, f"L{layer}.H{head} prev"), key(IND, True, f"L{layer}.H{head} induction")]
        for p, parts in ((self.loss_plot, loss), (self.score_plot, score)):
            p.setTitle("&nbsp;&nbsp; ".join(parts), size="8pt", color="#374151")

    def _update_label(self) -> None:
        if self.current is None or not self.snaps:
            self.step_label.setText("")
            return
        s = self.snaps[self.current]
        seen = s.info.get("tokens_seen")
        self.step_label.setText(f"<b>step {s.step:,}</b>" + (f" · {seen:,} tokens seen" if seen is not None else "")
                                + f" · {self.current + 1} of {len(self.snaps)}")

    def _update_note(self) -> None:
        lines = []
        if self.swap_error:
            lines.append(f'<span style="color:#b91c1c">{html.escape(self.swap_error)}</span>')
        known = [s for s in self.scores if s is not None]
        if known and np.isnan(known[0].induction).all():
            lines.append(html.escape(NO_REPEAT))
        if known and known[0].warnings:
            lines.append(html.escape(known[0].warnings[0]))
        short = next((m for m in self.errors.values() if "at least 2" in m), None)
        if short:                          # the prompt itself, the same for every snapshot
            lines.append(f'<span style="color:#b91c1c">{html.escape(short)}</span>')
        elif self.errors:
            i = min(self.errors)
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            lines.append(f'<span style="color:#b91c1c">No scores for step {self.snaps[i].step}: '
                         f'{html.escape(self.errors[i])}{more}</span>')
        self.note.setText("<br>".join(lines))
        self.note.setVisible(bool(lines))

    # ---------- input ----------
    def _slid(self, i: int) -> None:
        if i != self.current:
            self.jumpRequested.emit(i)

    def _clicked(self, ev) -> None:
        if not self.snaps or ev.button() != Qt.LeftButton:
            return
        pos = ev.scenePos()
        for p in (self.loss_plot, self.score_plot):
            if p.vb.sceneBoundingRect().contains(pos):
                i = int(np.clip(round(p.vb.mapSceneToView(pos).x()), 0, len(self.snaps) - 1))
                self.slider.setValue(i)           # moves the slider, which asks for the snapshot
                return

    def clear(self) -> None:
        self.snaps, self.scores, self.errors, self.current = [], [], {}, None
        self.val = np.zeros(0)
        self.swap_error, self.prompt = None, None
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        self.progress.hide()
        self.redraw()
        self._update_label()
