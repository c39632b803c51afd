"""The training timeline's work, in the worker thread beside the model: find a folder's snapshots, swap the model
to one of them (a small cache of loaded snapshots; the newest request wins) and score every snapshot on the prompt.

TimelineWorker lives in the same thread as worker._Worker, so a swap or a scoring step never runs during a view
job. Scoring does one snapshot per event and queues the next, so view jobs and swaps asked meanwhile run between
two snapshots instead of waiting for the whole run. TimelineClient is the GUI-side handle.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot

from .worker import _message

# Loaded snapshots kept in memory. Scrubbing goes back and forth over neighbouring steps, and 4 covers the one
# shown, the one before and after it and the one just left, while bounding memory at 4 copies of the model
# (Pythia-160m in fp32: 4 × 650 MB); scoring never fills it, so a scoring run does not evict what was scrubbed.
CACHE_SIZE = 4


class SnapshotCache:
    """Least recently used LoadedModels by snapshot path."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.models: OrderedDict[str, object] = OrderedDict()

    def get(self, path: str):
        m = self.models.get(path)
        if m is not None:
            self.models.move_to_end(path)
        return m

    def peek(self, path: str):
        """The model if cached, leaving the order alone (scoring reads every snapshot; it is not a use)."""
        return self.models.get(path)

    def put(self, path: str, model) -> None:
        self.models[path] = model
        self.models.move_to_end(path)
        while len(self.models) > self.size:
            self.models.popitem(last=False)

    def clear(self) -> None:
        self.models.clear()


def owns(snaps, source: str) -> int | None:
    """Index of the snapshot a loaded model's source belongs to (an HF snapshot's source is its weights file)."""
    src = Path(source)
    for i, s in enumerate(snaps):
        if src == s.path or s.path in src.parents:
            return i
    return None


class TimelineWorker(QObject):
    found = Signal(str, object)          # folder, [Snapshot] (2 or more)
    swapped = Signal(int, int)           # request id, index of the snapshot now loaded (loaded follows)
    swapFailed = Signal(int, int, str)   # request id, index, why (the previous model stays)
    scored = Signal(int, int, object, str)   # run id, index, timeline.Scores or None, "" or why not
    scoreDone = Signal(int)              # run id
    _step = Signal(int, int)             # run id, next index (queued to itself)

    def __init__(self, worker):
        super().__init__()
        self.w = worker                  # the _Worker whose model a swap replaces
        self.cache = SnapshotCache()
        self.snaps: list = []
        self.latest_swap = 0             # set from the GUI thread: requests older than this are skipped
        self.latest_run = 0              # likewise for scoring runs
        self.loads: list[str] = []       # snapshot paths opened from disk for a swap (tests)
        self._adopting = False
        self._run = (0, "", False)       # the scoring run under way: (run id, prompt text, prepend BOS)
        self._step.connect(self._score_one, Qt.QueuedConnection)
        worker.loaded.connect(self._on_loaded)     # same thread: called directly

    def _open(self, path: str):
        from ..api import open_model
        return open_model(path, device=self.w.device, dtype=self.w.dtype)

    @Slot(object)
    def open_folder(self, req):
        """req: (request id, folder, path asked or None). Fewer than 2 snapshots: a plain load, as before."""
        req_id, folder, want = req
        from ..checkpoints.errors import CheckpointError
        from ..checkpoints.snapshots import find_snapshots
        try:
            snaps = find_snapshots(folder)
        except (CheckpointError, OSError):
            snaps = []
        i = owns(snaps, want) if want else None
        if len(snaps) < 2 or (want and i is None):   # one model, or a revision without a step (main): as before
            self.w.load(want or folder)
            return
        self.snaps = snaps
        self.cache.clear()
        self.found.emit(folder, snaps)
        self._swap(req_id, len(snaps) - 1 if i is None else i, first=True)

    @Slot(object)
    def swap(self, req):
        """req: (request id, index); only the newest request queued is loaded."""
        req_id, index = req
        if req_id < self.latest_swap or not 0 <= index < len(self.snaps):
            return                        # superseded while it waited
        self._swap(req_id, index)

    def _swap(self, req_id: int, index: int, first: bool = False) -> None:
        path = str(self.snaps[index].path)
        model = self.cache.get(path)
        if model is None:
            try:
                model = self._open(path)
            except (Exception, MemoryError) as e:    # the previous model stays loaded
                if first:
                    self.w.loadFailed.emit(path, _message(e))
                else:
                    self.swapFailed.emit(req_id, index, _message(e))
                return
            self.loads.append(path)
            self.cache.put(path, model)
        self.swapped.emit(req_id, index)
        self._adopting = True
        try:
            self.w.adopt(model)
        finally:
            self._adopting = False

    def _on_loaded(self, info) -> None:
        if not self._adopting:            # a plain load: the snapshots are not needed any more (scoring stops)
            self.snaps = []
            self.cache.clear()

    # ---------- scoring ----------
    @Slot(object)
    def score(self, req):
        """req: (run id, prompt text, prepend BOS): every snapshot in turn, streamed through `scored`."""
        self._run = req
        self._score_one(req[0], 0)

    @Slot(int, int)
    def _score_one(self, run_id: int, i: int) -> None:
        if run_id != self.latest_run or run_id != self._run[0] or i >= len(self.snaps):
            return                        # cancelled: a newer prompt or folder
        from ..timeline import score_model
        _, text, bos = self._run
        path = str(self.snaps[i].path)
        cached = self.cache.peek(path)
        try:
            # a fork of a cached model has its own prefix cache: the views' trace of the same model is left alone
            model = cached.fork() if cached is not None else self._open(path)
            scores = score_model(model, text, prepend_bos=bos)
            del model
        except (Exception, MemoryError) as e:    # this snapshot: a message in its place, the others go on
            self.scored.emit(run_id, i, None, _message(e))
            if isinstance(e, ValueError) and "at least 2" in str(e):
                self.scoreDone.emit(run_id)  # the prompt is too short for every snapshot alike
                return
        else:
            self.scored.emit(run_id, i, scores, "")
        if i + 1 < len(self.snaps):
            self._step.emit(run_id, i + 1)
        else:
            self.scoreDone.emit(run_id)


class TimelineClient(QObject):
    """GUI side: open a folder, ask for a snapshot, ask for scores; answers come back on the GUI thread."""
    found = Signal(str, object)
    swapped = Signal(int)                # index now loaded (modelLoaded follows)
    swapFailed = Signal(int, str)        # index, why
    scored = Signal(int, object, str)    # index, Scores or None, "" or why not (current run only)
    scoreDone = Signal()
    _toOpen = Signal(object)
    _toSwap = Signal(object)
    _toScore = Signal(object)

    def __init__(self, client, parent=None):
        super().__init__(parent)
        self.client = client
        self.tw = TimelineWorker(client._worker)
        self.tw.moveToThread(client._thread)
        client._thread.finished.connect(self.tw.deleteLater)
        self._toOpen.connect(self.tw.open_folder)
        self._toSwap.connect(self.tw.swap)
        self._toScore.connect(self.tw.score)
        self.tw.found.connect(self._on_found)
        self.tw.swapped.connect(self._on_swapped)
        self.tw.swapFailed.connect(self._on_swap_failed)
        # methods of this GUI-thread object, not lambdas: a lambda on a worker-thread signal runs in the
        # worker thread (and PySide 6.8+ can crash on such cross-thread calls)
        self.tw.scored.connect(self._on_scored)
        self.tw.scoreDone.connect(self._on_score_done)
        self.snaps: list = []
        self.folder: str | None = None
        self._req = 0
        self.answered = 0                 # the newest request the worker has answered
        self.run_id = 0
        self.scoring = False

    def _next_req(self) -> int:
        self._req += 1
        self.tw.latest_swap = self._req   # read by the worker thread before it loads anything older
        return self._req

    def _begin_load(self) -> None:
        # as WorkerClient.load: new view jobs wait until the model arrives (modelLoaded or the failure below)
        c = self.client
        c.loading = c.scheduler.paused = True
        c.busyChanged.emit(True)

    def open_folder(self, folder: str, want: str | None = None) -> None:
        self.cancel_swaps()
        self._begin_load()
        self._toOpen.emit((self._req, folder, want))

    def swap(self, index: int) -> None:
        self._begin_load()
        self._toSwap.emit((self._next_req(), index))

    def cancel_swaps(self) -> None:
        """A plain load asked now wins over swaps still queued."""
        self._next_req()

    def owns(self, source: str) -> int | None:
        return owns(self.snaps, source) if self.snaps else None

    def forget(self) -> None:
        self.snaps, self.folder = [], None
        self.cancel_scores()

    @property
    def settled(self) -> bool:
        """No newer swap is on its way (the slider may follow what was loaded)."""
        return self.answered >= self._req

    def _on_swapped(self, req: int, index: int) -> None:
        self.answered = max(self.answered, req)
        self.swapped.emit(index)

    def _on_found(self, folder: str, snaps) -> None:
        self.folder, self.snaps = folder, list(snaps)
        self.found.emit(folder, self.snaps)

    def _on_swap_failed(self, req: int, index: int, msg: str) -> None:
        self.answered = max(self.answered, req)
        c = self.client                   # as WorkerClient._on_load_failed, without its dialog
        c.loading = False
        c.scheduler.paused = c.generating is not None
        c.scheduler.resume()
        c.busyChanged.emit(not c.idle)
        self.swapFailed.emit(index, msg)

    def score(self, text: str, prepend_bos: bool) -> None:
        """Score every snapshot on this prompt; the run before stops at its next snapshot."""
        self.run_id += 1
        self.tw.latest_run = self.run_id  # written only here, read by the worker thread
        self.scoring = True
        self._toScore.emit((self.run_id, text, prepend_bos))

    def cancel_scores(self) -> None:
        self.run_id += 1
        self.tw.latest_run = self.run_id
        self.scoring = False

    @Slot(int, int, object, str)
    def _on_scored(self, run: int, index: int, scores, msg: str) -> None:
        if run == self.run_id:
            self.scored.emit(index, scores, msg)

    @Slot(int)
    def _on_score_done(self, run: int) -> None:
        if run == self.run_id:
            self._done()

    def _done(self) -> None:
        self.scoring = False
        self.scoreDone.emit()
