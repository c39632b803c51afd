"""Activation patching between prompts A and B (the causal-tracing figure of ROME, and of the IOI work by
head): put one piece of B's pass into A's and see how far a logit difference at A's last position moves
toward B's. One model run per cell, so a sweep runs when asked (Run), in the worker, with progress and Cancel."""
from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                               QWidget)

from ..patch_runner import PatchOutcome, PatchRunner
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("CET-D1")     # diverging, white at 0 (as A); red toward B (1), blue away from it
HINT = "Hover a cell: what was patched, and the metric then."
REFUSAL = "color: #b91c1c;"
NORMAL = "color: #374151;"


class PatchingPanel(QWidget):
    export_table = "patching"
    attr, title, dock, area, place = "patching", "Activation patching", "patching", "right", ("tab", "compare")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.b_editor = QPlainTextEdit()
        self.b_editor.setPlaceholderText("Prompt B (the same text as in Compare prompts): as many tokens as A")
        self.b_editor.setMaximumHeight(46)
        self.mode = QComboBox()
        self.mode.addItem("logit difference", "diff")
        self.mode.addItem("one logit", "logit")
        self.mode.setToolTip("The metric read at A's last position after each patch: logit(token) − logit(other), "
                             "or logit(token) alone")
        self.token = QLineEdit()
        self.token.setPlaceholderText("A's top next token")
        self.minus = QLineEdit()
        self.minus.setPlaceholderText("B's top next token")
        for w in (self.token, self.minus):
            w.setToolTip("One token as text, with its leading space (e.g. “ Mary”), or an id as [1234]; "
                         "empty: the default shown greyed")
            w.returnPressed.connect(self.run)
        self.minus_label = QLabel("−")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Patch every (layer, position) of the residual stream and every head: one "
                                   "model run per cell")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m runs")
        self._set_running(False)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        metric = QHBoxLayout()
        metric.addWidget(self.mode)
        metric.addWidget(self.token, 1)
        metric.addWidget(self.minus_label)
        metric.addWidget(self.minus, 1)
        metric.addWidget(self.run_button)
        self.message = note("Set prompt B (as many tokens as A) and press Run.")
        progress = QHBoxLayout()
        progress.addWidget(self.message, 1)
        progress.addWidget(self.bar, 1)
        progress.addWidget(self.cancel_button)
        self.view = plot_view()
        self.rx, self.ry = TokenAxis("bottom", max_chars=7, cells=True), TokenAxis("left", max_chars=6, cells=True)
        self.rplot = fixed_plot(self.view, 0, 0, "residual stream",
                                {"bottom": self.rx, "left": self.ry}, invert_y=True)
        self.hx, self.hy = TokenAxis("bottom", cells=True), TokenAxis("left", max_chars=6, cells=True)
        self.hplot = fixed_plot(self.view, 0, 1, "heads", {"bottom": self.hx, "left": self.hy}, invert_y=True)
        self.rimg, self.himg = pg.ImageItem(axisOrder="row-major"), pg.ImageItem(axisOrder="row-major")
        self.rplot.addItem(self.rimg)
        self.hplot.addItem(self.himg)
        self.cbar = pg.ColorBarItem(values=(-1, 1), colorMap=CMAP, interactive=False, width=12)
        self.cbar.setImageItem([self.rimg, self.himg], insert_in=self.hplot)
        self.cbar.getAxis("right").enableAutoSIPrefix(False)
        self.view.ci.layout.setColumnStretchFactor(0, 3)    # side by side: a short dock keeps the rows tall
        self.view.ci.layout.setColumnStretchFactor(1, 1)
        self.view.setMinimumHeight(170)
        self.caption = note("")
        self.readout = note(HINT)
        stack(self, self.b_editor, metric, progress, self.view, self.caption, self.readout, stretch=self.view)
        self.result = None                   # views.interventions.PatchingResult shown
        self.outcome: PatchOutcome | None = None
        self.job = None                      # the newest sweep asked for
        self.win = self.runner = None
        self.norm = {}                       # "resid"/"heads" -> what the maps show (normalised, or minus base)
        self.view.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.view, self.clear_readout)

    # ---------- the window ----------
    def attach(self, win) -> None:
        """Wire to the window: its prompt, prompt B, BOS and ablation set; the worker runs the sweeps."""
        self.win = win
        self.runner = PatchRunner(win.client, self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        win.installEventFilter(self.runner)
        self.b_editor.setPlainText(win.compare.editor.toPlainText())
        self.b_editor.textChanged.connect(self._b_typed)
        win.compare.editor.textChanged.connect(self._b_from_compare)
        for sig in (win.editor.textChanged, win.compare.editor.textChanged, self.token.textChanged,
                    self.minus.textChanged, self.mode.currentIndexChanged):
            sig.connect(self._inputs_changed)
        win.bos_action.toggled.connect(self._inputs_changed)
        win.ablations.changed.connect(self._inputs_changed)

    def wants(self, state):
        return None                          # a sweep runs on Run only (one model run per cell)

    def _b_typed(self) -> None:
        text = self.b_editor.toPlainText()
        if self.win.compare.editor.toPlainText() != text:
            self.win.compare.editor.setPlainText(text)

    def _b_from_compare(self) -> None:
        text = self.win.compare.editor.toPlainText()
        if self.b_editor.toPlainText() != text:
            self.b_editor.setPlainText(text)

    def _mode_changed(self) -> None:
        diff = self.mode.currentData() == "diff"
        self.minus.setEnabled(diff)
        self.minus_label.setEnabled(diff)

    def _new_job(self):
        st = self.win.state()
        minus = self.minus.text() if self.mode.currentData() == "diff" else None
        return self.runner.job(st.prompt, st.compare_text, self.token.text(), minus)

    def _inputs_changed(self, *_) -> None:
        """A new prompt, B, metric, BOS choice or ablation set: the sweep under way is for something else."""
        if self.win is None or self.win.info is None:
            return
        want = self._new_job()
        run = self.runner.running
        if run is not None and run.key != want.key:
            self.runner.cancel()
        memo = self.runner.lookup(want)
        if memo is not None and memo is not self.outcome:
            self.job = memo.job
            self._show(memo)
        elif self.outcome is not None and memo is None:
            self.message.setStyleSheet(NORMAL)
            self.message.setText("The maps are for earlier prompts or another metric: press Run to patch these.")

    # ---------- running ----------
    def run(self) -> None:
        if self.win is None or self.win.info is None:
            self._refuse("no model is loaded yet")
            return
        job = self._new_job()
        if not job.prompt.text:
            self._refuse("prompt A (the main prompt) is empty: type one to patch into")
            return
        if not job.text_b:
            self._refuse("prompt B is empty: type a second prompt with as many tokens as A (the box above)")
            return
        memo = self.runner.lookup(job)
        if memo is not None:
            self.job = memo.job
            self._show(memo)
            return
        self.job = job
        self.bar.setRange(0, 0)                  # A's and B's passes first: no count yet
        self._set_running(True)
        self.message.setStyleSheet(NORMAL)
        self.message.setText("Tracing A and B…")
        self.runner.run(job)

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()
        self.cancel_button.setEnabled(False)     # until the sweep notices (between two runs)

    def _set_running(self, on: bool) -> None:
        self.bar.setVisible(on)
        self.cancel_button.setVisible(on)
        self.cancel_button.setEnabled(on)

    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self.job is not None and job_id == self.job.id:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.message.setText(f"Patching: {done} of {total} runs…")

    def _on_finished(self, out: PatchOutcome) -> None:
        self._set_running(self.runner.running is not None)
        if self.job is None or out.job.id != self.job.id:
            return                               # an older sweep, superseded by a newer Run or a memoised result
        if out.result is None:
            self._refuse(out.error)
            return
        self._show(out)

    def _refuse(self, why: str) -> None:
        self.message.setStyleSheet(REFUSAL)
        self.message.setText(f"No patching: {why}.".replace("..", "."))

    # ---------- drawing ----------
    def _scaled(self, a: np.ndarray) -> np.ndarray:
        r = self.result
        gap = r.source - r.base
        return (a - r.base) / gap if abs(gap) > 1e-6 else a - r.base

    def _show(self, out: PatchOutcome) -> None:
        self.outcome, self.result = out, out.result
        r = out.result
        L1, T = r.resid.shape
        H = r.heads.shape[1]
        self.norm = {k: self._scaled(getattr(r, k).astype(np.float64)) for k in ("resid", "heads")}   # (L+1, T), (L, H)
        both = np.concatenate([self.norm["resid"].ravel(), self.norm["heads"].ravel()])
        lim = max(1.0, float(np.nanmax(np.abs(both)))) if np.isfinite(both).any() else 1.0   # white is exactly 0
        self.rimg.setImage(self.norm["resid"].astype(np.float32), autoLevels=False)
        self.himg.setImage(self.norm["heads"].astype(np.float32), autoLevels=False)
        self.cbar.setLevels(low=-lim, high=lim)
        self.rx.set_labels([p.text for p in r.tokens])
        self.ry.set_labels([f"L{layer}" for layer in range(L1 - 1)] + ["final"])
        self.hx.set_labels([f"h{h}" for h in range(H)])
        self.hy.set_labels([f"L{layer}" for layer in range(L1 - 1)])
        self.rplot.setRange(xRange=(0, T), yRange=(0, L1), padding=0.01)
        self.hplot.setRange(xRange=(0, H), yRange=(0, L1 - 1), padding=0.01)
        self.message.setStyleSheet(NORMAL)
        self.message.setText(f"Cancelled after {r.done} of {r.total} runs: the cells not run are empty."
                             if r.cancelled else f"{r.total} runs in {out.seconds:.1f} s.")
        if self.win is not None and out.job.key != self._new_job().key:
            self.message.setText(self.message.text() + " The prompts or the metric have changed since: press Run.")
        self.caption.setText(self.describe())
        self.clear_readout()

    def metric_text(self) -> str:
        o = self.outcome
        return f"logit(“{o.token.text}”)" + (f" − logit(“{o.minus.text}”)" if o.minus is not None else "")

    def differing(self) -> list[int]:
        r = self.result
        return [i for i, (a, b) in enumerate(zip(r.tokens, r.tokens_b)) if a.id != b.id]

    def describe(self) -> str:
        r, o = self.result, self.outcome
        gap = r.source - r.base
        diff = self.differing()
        where = (", ".join(f"#{i} “{r.tokens[i].text}”→“{r.tokens_b[i].text}”" for i in diff[:6])
                 + (" …" if len(diff) > 6 else "")) if diff else "nowhere (the same tokens)"
        scale = ("Colour: (patched − base) / (source − base), 0 = as A (white), 1 = as B (red)." if abs(gap) > 1e-6
                 else "A and B give the same metric, so nothing normalises: colour is patched − base.")
        ablated = (" The sweep runs on the clean model (the ablation set is not applied)."
                   if o.job.prompt.ablation is not None else "")
        return (f"Metric {self.metric_text()} at A's last position: base (A) {r.base:.4f}, "
                f"source (B) {r.source:.4f}. "
                f"{scale} Row Lk: the residual stream entering block k (L0 = the embeddings), final: after the last "
                f"block; a head cell patches that head's output at every position. A and B differ at {where}."
                + ablated)

    def numbers(self):
        r = self.result
        if r is None:
            raise ValueError("no patching sweep yet: press Run in the Activation patching panel")
        L1, T = r.resid.shape
        ids = [int(i) for i in r.token_ids]
        rows = [["resid", layer, p, ids[p], r.tokens[p].text, float(r.resid[layer, p]),
                 float(self.norm["resid"][layer, p])] for layer in range(L1) for p in range(T)]
        rows += [["head", layer, h, "", "", float(r.heads[layer, h]), float(self.norm["heads"][layer, h])]
                 for layer in range(r.heads.shape[0]) for h in range(r.heads.shape[1])]
        o = self.outcome
        return (["kind", "layer", "position_or_head", "token_id", "token", "metric", "normalized"], rows,
                [prompt_comment(r), "# prompt B: " + json.dumps(r.view.text_b, ensure_ascii=False),
                 f"# metric: {self.metric_text()} (ids {o.token.id}" + (f", {o.minus.id})" if o.minus else ")"),
                 f"# base (A): {r.base!r}", f"# source (B): {r.source!r}",
                 "# normalized: (metric - base) / (source - base); resid layer L = after the last block",
                 f"# runs: {r.done} of {r.total}" + (" (cancelled)" if r.cancelled else "")])

    # ---------- pointer ----------
    def clear_readout(self) -> None:
        self.readout.setText(HINT)

    def describe_cell(self, which: str, row: int, col: int) -> str:
        r = self.result
        v = (r.resid if which == "resid" else r.heads)[row, col]
        if which == "resid":
            a, b = r.tokens[col], r.tokens_b[col]
            block = f"entering block {row}" if row < r.resid.shape[0] - 1 else "after the last block"
            what = f"residual {block}, position {col} “{a.text}”" + (f" (B: “{b.text}”)" if a.id != b.id else "")
        else:
            what = f"layer {row} head {col}"
        if not np.isfinite(v):
            return f"{what}: not run (the sweep was cancelled)"
        return f"{what}: metric {v:.4f}, normalised {self.norm[which][row, col]:+.3f}"

    def _hover(self, pos) -> None:
        if self.result is None:
            return
        for which, plot, a in (("resid", self.rplot, self.result.resid), ("heads", self.hplot, self.result.heads)):
            if plot.vb.sceneBoundingRect().contains(pos):
                v = plot.vb.mapSceneToView(pos)
                row, col = int(np.floor(v.y())), int(np.floor(v.x()))
                if 0 <= row < a.shape[0] and 0 <= col < a.shape[1]:
                    self.readout.setText(self.describe_cell(which, row, col))
                    return
        self.clear_readout()

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key_Escape and self.runner is not None and self.runner.running is not None:
            self.cancel()
            return
        super().keyPressEvent(e)
