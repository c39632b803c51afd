"""The main window's training timeline: a folder with 2 or more snapshots (checkpoints/snapshots.py) opens the
Timeline dock under the token splits; its slider swaps the worker's model (timeline_worker.py) and every panel
redraws for the same prompt, layer and head; the scores across snapshots are recomputed when the prompt changes."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer

from .prompt import Debouncer
from .timeline_dock import TimelineDock
from .timeline_worker import TimelineClient

TIMELINE_SHARE = 0.24        # of the window's height, below the prompt and the token splits
SCORE_DELAY_MS = 600         # a scoring run loads every snapshot: wait until typing pauses
MEMO_RUNS = 8                # whole runs kept, so going back to an earlier prompt scores nothing


class TimelineActions:
    """Mixed into MainWindow (before LayoutActions: reset_layout keeps an open timeline in view)."""

    def _init_timeline(self) -> None:
        self.timeline = tc = TimelineClient(self.client, self)
        self.timeline_dock = dock = TimelineDock()
        d = self.d_timeline = self._dock(dock.title, dock, Qt.TopDockWidgetArea, "timeline")
        self.splitDockWidget(self.d_tokens, d, Qt.Vertical)
        d.setMinimumHeight(160)
        d.hide()                                   # until a folder of snapshots is opened
        self._docks.append(d)
        self._scored_for = None                    # (folder, text, BOS) of the scores in the dock
        self._score_memo: dict[tuple, tuple] = {}
        self._bos_hooked = False
        tc.found.connect(self._timeline_found)
        tc.swapped.connect(lambda i: dock.set_current(i, tc.settled))
        tc.swapFailed.connect(self._timeline_swap_failed)
        tc.scored.connect(dock.add_score)
        tc.scoreDone.connect(self._timeline_scored)
        dock.jumpRequested.connect(self.timeline_jump)
        self.client.modelLoaded.connect(self._timeline_loaded)     # after the window's own _on_loaded
        self.client.loadFailed.connect(self._timeline_load_failed)
        self.attention.headSelected.connect(dock.set_head)
        self._score_debouncer = Debouncer(SCORE_DELAY_MS, 4 * SCORE_DELAY_MS, parent=self)
        self._score_debouncer.fire.connect(self._timeline_rescore)
        self.editor.textChanged.connect(lambda: self.timeline.snaps and self._score_debouncer.poke())
        d.visibilityChanged.connect(lambda shown: shown and QTimer.singleShot(0, self._timeline_rescore))

    @property
    def timeline_open(self) -> bool:
        return bool(self.timeline.snaps)

    def in_timeline(self, source: str) -> bool:
        return self.timeline.owns(source) is not None

    def timeline_jump(self, index: int) -> None:
        """Load snapshot `index` (the slider, the arrows, a click on a plot)."""
        if not self.timeline_open:
            return
        if index == self.timeline_dock.current and not self.client.loading:
            return
        self.model_label.setText(f"loading step {self.timeline.snaps[index].step}…")
        self.timeline.swap(index)

    # ---------- answers ----------
    def _timeline_found(self, folder: str, snaps) -> None:
        self.timeline_dock.set_snapshots(snaps)
        self._scored_for = None
        if not self._bos_hooked:
            self.bos_action.toggled.connect(lambda _: self.timeline_open and self._timeline_rescore())
            self._bos_hooked = True
        self._show_timeline(True)
        self._add_recent(folder)
        self._timeline_export_state()

    def _timeline_loaded(self, info) -> None:
        i = self.timeline.owns(info.source)
        if i is None:
            if self.timeline_open or not self.d_timeline.isHidden():
                self._close_timeline()
            return
        self.timeline_dock.set_current(i, self.timeline.settled)
        self._timeline_rescore()            # the first load of a folder: its view jobs are queued first

    def _timeline_load_failed(self, what: str, msg: str) -> None:
        # the folder's first snapshot could not be opened and the model loaded before is not one of them
        if self.timeline_open and (self.info is None or not self.in_timeline(self.info.source)):
            self._close_timeline()

    def _timeline_swap_failed(self, index: int, msg: str) -> None:
        self.last_error = msg
        self.timeline_dock.swap_failed(index, msg, self.timeline.settled)
        self._show_model_label()
        self.statusBar().showMessage(f"error: step {self.timeline.snaps[index].step} could not be loaded: {msg}",
                                     10000)

    def _timeline_rescore(self) -> None:
        """Score every snapshot on the current prompt, unless the dock already shows that (or is closed)."""
        if not self.timeline_open or self.d_timeline.isHidden():
            return
        self._score_debouncer.cancel()
        key = (self.timeline.folder, self.editor.toPlainText(), self.bos_action.isChecked())
        if key == self._scored_for:
            return
        self._scored_for = key
        dock = self.timeline_dock
        dock.prompt, dock.bos = key[1], key[2]
        if key in self._score_memo:
            self.timeline.cancel_scores()
            dock.start_scores()
            scores, errors = self._score_memo[key]
            for i, s in enumerate(scores):
                dock.add_score(i, s, errors.get(i, ""))
            dock.scores_done()
            return
        dock.start_scores()
        self.timeline.score(key[1], key[2])

    def _timeline_scored(self) -> None:
        dock = self.timeline_dock
        dock.scores_done()
        self._score_memo[self._scored_for] = (list(dock.scores), dict(dock.errors))
        while len(self._score_memo) > MEMO_RUNS:
            self._score_memo.pop(next(iter(self._score_memo)))
        if self.client.idle:
            self.allShown.emit()                  # the dock is a panel too: now it holds its newest result

    # ---------- export ----------
    def _timeline_export_menu(self, menu) -> None:
        """File > Export > Timeline (PNG, SVG, CSV); disabled, saying why, while no timeline is open."""
        self.timeline_export = sub = menu.addMenu("Timeline")
        for kind, label in (("png", "PNG image…"), ("svg", "SVG vector image…"), ("csv", "Numbers as CSV…")):
            self._action(sub, label, lambda _=False, k=kind: self.export_dialog(self.timeline_dock, k))
        self._timeline_export_state()

    def _timeline_export_state(self) -> None:
        a = self.timeline_export.menuAction()
        a.setEnabled(self.timeline_open)
        a.setText("Timeline" if self.timeline_open else "Timeline (open a folder of training snapshots first)")

    # ---------- the dock ----------
    def _show_timeline(self, on: bool) -> None:
        top = self.shares["height"][Qt.TopDockWidgetArea]
        if on:
            self.d_timeline.show()
            self.d_timeline.raise_()
            if len(top) == 2:                        # prompt and token splits give a little, then the timeline
                self.shares["height"][Qt.TopDockWidgetArea] = [top[0] * 0.85, top[1] * 0.85, TIMELINE_SHARE]
        else:
            self.d_timeline.hide()
            if len(top) == 3:
                self.shares["height"][Qt.TopDockWidgetArea] = [top[0] / 0.85, top[1] / 0.85]
        QTimer.singleShot(0, self.apply_shares)

    def _close_timeline(self) -> None:
        self.timeline.forget()
        self.timeline_dock.clear()
        self._scored_for = None
        self._show_timeline(False)
        self._timeline_export_state()

    def reset_layout(self) -> None:
        super().reset_layout()
        if self.timeline_open:
            self.shares["height"][Qt.TopDockWidgetArea] = list(self.shares["height"][Qt.TopDockWidgetArea])[:2]
            self._show_timeline(True)
