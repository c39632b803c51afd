"""One worker thread owns the model; the GUI talks to it only through queued signals.

The GUI side (WorkerClient) holds a views.Scheduler: it answers what is memoised at once and sends the
rest as jobs, one running and one waiting. The worker runs a job's views one at a time, cheapest first,
over one trace of the prompt (the last trace is kept, so a job for the same prompt, e.g. another layer,
makes no model pass), and stops between views when the job has been superseded.
"""
from __future__ import annotations

import atexit
import threading
import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import SIGNAL, QObject, QThread, Signal, Slot

from ..core.config import GPTConfig
from ..views.base import FIRST_PAINT, Context, Prompt
from ..views.buffers import PATTERNS
from ..views.scheduler import Job, Scheduler
from .gui_gc import freeze_long_lived
from .turns import Turns

DRAW_WAIT_S = 0.1        # the longest the worker waits for the GUI to draw what it handed over


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI thread knows about the loaded model: its config plus what the config does not hold."""
    name: str
    source: str
    fmt: str
    config: GPTConfig
    tokenizer: str
    eot_id: int | None                   # the tokenizer's <|endoftext|>, None when it has none
    warnings: list[str] = field(default_factory=list)
    geometry: dict = field(default_factory=dict)   # analysis.geometry.embedding_geometry of the weights; empty
    #                                               until the Geometry view arrives (after the prompt's views)
    bos_id: int | None = None            # what "prepend BOS" prepends: the tokenizer's BOS, else its <|endoftext|>
    bos_text: str = ""                   # its display form (<s>, <|begin_of_text|>, <|endoftext|>)
    add_bos: bool = False                # whether the checkpoint expects it (tokenizer_config.json add_bos_token)


def _ablate(prompt: Prompt) -> dict:
    """The trace arguments of the prompt's ablation set (none: the clean model)."""
    a = prompt.ablation
    return {} if a is None else dict(ablate=a.heads, ablate_mlp=a.mlps, mode=a.mode)


def _message(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg if isinstance(e, (ValueError, OSError)) and msg else f"{type(e).__name__}: {msg}"


class _Worker(QObject):
    loaded = Signal(object)            # ModelInfo
    loadFailed = Signal(str, str)      # what was asked, why it failed
    traced = Signal(object, object)    # job, (token ids bytes, prompt length in tokens)
    viewReady = Signal(object, object, object)   # job, view, result (None: nothing to show)
    viewFailed = Signal(object, str)   # job, message
    jobDone = Signal(object)           # job
    generated = Signal(int, str)       # job id, the continuation so far
    generationDone = Signal(int, str)  # job id, "" or an error message
    allAttention = Signal(int, object, str)   # request id, (L, H, T, T) float32 or None, "" or an error message
    awaitingDraw = Signal(object)      # job: results were handed over; `drawn` is set once they are drawn

    def __init__(self, device: str, dtype=None):
        super().__init__()
        self.drawn = threading.Event()
        self.device, self.dtype = device, dtype
        self.model = None
        self.other = None               # prompt B keeps its own prefix cache
        self.ctx: Context | None = None  # the last prompt's trace and what its views shared
        self.traces = 0                 # model passes made (tests: a layer switch makes none)

    @Slot(object)
    def load(self, path):
        try:
            from ..api import open_model
            model = open_model(path, device=self.device, dtype=self.dtype)
            other = model.fork()
        except (Exception, MemoryError) as e:   # the previous model stays loaded
            self.loadFailed.emit("the built-in model" if path is None else str(path), _message(e))
            return
        self.adopt(model, other)

    def adopt(self, model, other=None) -> None:
        """Make `model` the one every view computes on (a load, or a training snapshot: ui/timeline_worker.py)."""
        self.model, self.other, self.ctx = model, other or model.fork(), None
        PATTERNS.clear()                 # spare blocks sized for the previous model's patterns
        tok = model.tokenizer
        bos = tok.bos_id if getattr(tok, "bos_id", None) is not None else tok.eot_id   # as LoadedModel.encode picks
        self.loaded.emit(ModelInfo(model.name, model.source, model.format, model.config, tok.name, tok.eot_id,
                                   list(model.warnings), bos_id=bos,
                                   bos_text=tok.pieces([bos])[0].text if bos is not None else "",
                                   add_bos=bool(getattr(tok, "add_bos", False)) and bos is not None))

    def context(self, job: Job) -> Context:
        """The trace of the job's prompt: the last one again when the prompt is the same."""
        c = self.ctx
        if c is None or c.prompt != job.prompt or c.generation != job.generation:
            tr = self.model.trace(job.prompt.text, prepend_bos=job.prompt.prepend_bos, **_ablate(job.prompt))
            self.traces += 1
            c = Context(self.model, tr, job.prompt, self.other)
            c.generation = job.generation
            self.ctx = c
        self.traced.emit(job, (c.ids.tobytes(), c.trace.n_prompt_tokens))
        return c

    @Slot(object)
    def run(self, job: Job):
        if self.model is None:
            self.viewFailed.emit(job, "no model is loaded")
            self.jobDone.emit(job)
            return
        ctx = None
        held = []                        # first-paint results, handed over together (views.base.FIRST_PAINT)
        first = sum(v.priority < FIRST_PAINT for v in job.views)
        for i, view in enumerate(job.views):
            if job.cancel.is_set():
                break                    # superseded: the newer job asks for what it still needs
            first -= view.priority < FIRST_PAINT
            try:
                if view.per_prompt and ctx is None:
                    ctx = self.context(job)
                result = view.compute(ctx if view.per_prompt else Context(self.model, None, None))
            except (Exception, MemoryError) as e:
                traceback.print_exc()
                self._hand_over(job, held)
                self.viewFailed.emit(job, _message(e))
                if view.per_prompt and ctx is None:
                    break                # the model pass failed: no view of this prompt can be computed
                continue
            held.append((view, result))
            if not first:
                self._hand_over(job, held)
                if i + 1 < len(job.views):
                    self._wait_for_draw(job)
        self._hand_over(job, held)
        self.jobDone.emit(job)

    def _wait_for_draw(self, job: Job) -> None:
        """Let the GUI thread draw what was handed over before computing the next view. On two cores a
        paint racing the next view's 2-thread kernels slowed both: at 512 tokens (GPT-2-small) 40 ms from
        hand-over to the first paint drawn, against 15 ms in turn. At most DRAW_WAIT_S; WorkerClient says
        when the window has drawn."""
        self.drawn.clear()
        self.awaitingDraw.emit(job)
        self.drawn.wait(DRAW_WAIT_S)

    def _hand_over(self, job: Job, held: list) -> None:
        for view, result in held:
            self.viewReady.emit(job, view, result)
        held.clear()

    @Slot(object)
    def all_attention(self, req):
        """Every layer's attention for `req` ((id, Prompt)), one layer at a time (for exports)."""
        req_id, prompt = req
        if self.model is None:
            self.allAttention.emit(req_id, None, "no model is loaded")
            return
        try:
            c = self.ctx
            tr = c.trace if c is not None and c.prompt == prompt else \
                self.model.trace(prompt.text, prepend_bos=prompt.prepend_bos, **_ablate(prompt))
            att = np.stack([tr.attention(layer) for layer in range(tr.n_layer)])   # (L, H, T, T)
        except (Exception, MemoryError) as e:
            self.allAttention.emit(req_id, None, _message(e))
            return
        self.allAttention.emit(req_id, att, "")

    @Slot(object)
    def generate(self, job):
        from ..core.generate import generate_ids
        if self.model is None:
            self.generationDone.emit(job.id, "no model is loaded")
            return
        model = self.model
        ids = []
        try:
            for i in generate_ids(model, job.text, job.n, job.temperature, job.top_k, job.top_p, job.seed,
                                  job.prepend_bos, cancelled=job.cancel.is_set):
                ids.append(i)
                self.generated.emit(job.id, model.tokenizer.decode(ids))
        except Exception as e:
            self.generationDone.emit(job.id, _message(e))
            return
        self.generationDone.emit(job.id, "")


class WorkerClient(QObject):
    """GUI-side handle: submit view requests, loads and generations; signals come back on the GUI thread."""
    resultReady = Signal(int, object, object)   # submission id, view, result (None: nothing to show)
    computeFailed = Signal(int, str)
    modelLoaded = Signal(object)
    loadFailed = Signal(str, str)
    busyChanged = Signal(bool)
    generated = Signal(int, str)
    generationDone = Signal(int, str)
    allAttention = Signal(int, object, str)
    geometryReady = Signal(object)     # the Geometry view's dict
    jobFinished = Signal(int)          # a job ended (all its views delivered, or it was superseded)
    drawNow = Signal(int)              # submission id: draw the results delivered so far (the worker waits)
    _toRun = Signal(object)
    _toLoad = Signal(object)
    _toGenerate = Signal(object)
    _toAllAttention = Signal(object)

    def __init__(self, device: str = "cpu", parent=None, dtype=None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("gptviz-worker")
        self._worker = _Worker(device, dtype)
        self._worker.moveToThread(self._thread)
        self.scheduler = Scheduler(self._toRun.emit)
        self._toRun.connect(self._worker.run)
        self._toLoad.connect(self._worker.load)
        self._toGenerate.connect(self._worker.generate)
        self._toAllAttention.connect(self._worker.all_attention)
        w = self._worker
        w.allAttention.connect(self.allAttention)
        w.generated.connect(self.generated)
        w.generationDone.connect(self._on_generation_done)
        w.traced.connect(self._on_traced)        # a method, not a lambda: it must run on the GUI thread
        w.viewReady.connect(self._on_view)
        w.viewFailed.connect(self._on_failed)
        w.jobDone.connect(self._on_job_done)
        w.awaitingDraw.connect(self._on_awaiting_draw)
        w.loaded.connect(self._on_loaded)
        w.loadFailed.connect(self._on_load_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        self.loading = False
        self.generating = None         # the GenerateJob under way
        self.turns = Turns(self)

    # --- view requests ---
    def submit(self, prompt: Prompt, views) -> tuple[int, list]:
        """(submission id, memoised [(view, result)]); the rest arrive through resultReady."""
        seq, hits = self.scheduler.submit(prompt, views)
        self.busyChanged.emit(not self.idle)
        return seq, hits

    @property
    def running(self) -> Job | None:
        return self.scheduler.running

    @property
    def pending(self) -> Job | None:
        return self.scheduler.pending

    @property
    def sent(self) -> int:
        """Jobs handed to the worker (for tests and the benchmark)."""
        return self.scheduler.sent

    def _current(self, job: Job) -> bool:
        return job.generation == self.scheduler.generation

    @Slot(object, object)
    def _on_traced(self, job: Job, key) -> None:
        self.scheduler.learn(job.generation, job.prompt, key)

    # Results are memoised at once; the window is told of them one per event-loop turn (ui/turns.py), and
    # what follows them (a failure, the draw request, the job's end) in order after them.
    def _on_view(self, job: Job, view, result) -> None:
        self.scheduler.delivered(job, view, result)
        self.turns.later(lambda: self._show(job, view, result))

    def _show(self, job: Job, view, result) -> None:
        if self._current(job):
            if not view.per_prompt and result is not None:
                self.geometryReady.emit(result.geometry)
            self.resultReady.emit(job.id, view, result)

    def _on_awaiting_draw(self, job: Job) -> None:
        self.turns.later(lambda: self._draw(job))

    def _draw(self, job: Job) -> None:
        # the window draws what was shown over a few turns, then calls draw_done (the worker waits at
        # most DRAW_WAIT_S); with no window listening, nothing is drawn and the worker goes on
        if self._current(job) and self.receivers(SIGNAL("drawNow(int)")) > 0:
            self.drawNow.emit(job.id)
        else:
            self.draw_done()

    def draw_done(self) -> None:
        """What was handed over is drawn: the worker computes the next view."""
        self._worker.drawn.set()

    def _on_failed(self, job: Job, msg: str) -> None:
        self.turns.later(lambda: self._current(job) and self.computeFailed.emit(job.id, msg))

    def _on_job_done(self, job: Job) -> None:
        self.scheduler.finished(job)
        self.turns.later(lambda: self._job_ended(job))

    def _job_ended(self, job: Job) -> None:
        self.jobFinished.emit(job.id)
        if self.idle:
            self.busyChanged.emit(False)

    # --- loading ---
    def load(self, path) -> None:
        self.loading = self.scheduler.paused = True
        self.busyChanged.emit(True)
        self._toLoad.emit(path)

    def _on_loaded(self, info) -> None:
        # a plain load after an earlier model collects its leftovers first (generation: models loaded so far);
        # a snapshot swap only freezes
        freeze_long_lived(collect_first=self.loading and self.scheduler.generation > 0)
        self.loading = self.scheduler.paused = False
        self.scheduler.new_model()     # results and pending work were for the old model; the window submits
        self.modelLoaded.emit(info)
        self.busyChanged.emit(not self.idle)

    def _on_load_failed(self, what: str, msg: str) -> None:
        self.loading = False
        self.scheduler.paused = self.generating is not None
        self.loadFailed.emit(what, msg)
        self.scheduler.resume()
        self.busyChanged.emit(not self.idle)

    # --- generation ---
    def generate(self, job) -> None:
        """Queue a generation behind the running job; requests made meanwhile wait (newest wins)."""
        self.generating = job
        self.scheduler.paused = True
        self.busyChanged.emit(True)
        self._toGenerate.emit(job)

    def _on_generation_done(self, job_id: int, error: str) -> None:
        self.generating = None
        self.scheduler.paused = self.loading
        self.generationDone.emit(job_id, error)
        self.scheduler.resume()
        self.busyChanged.emit(not self.idle)

    # --- exports ---
    def all_attention(self, req_id: int, prompt: Prompt) -> None:
        """Ask for every layer's attention of `prompt`; `allAttention` answers after the running job."""
        self._toAllAttention.emit((req_id, prompt))

    @property
    def idle(self) -> bool:
        return self.scheduler.idle and not self.loading and self.generating is None and not len(self.turns)

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Stop the thread after the current job, waiting at most `timeout_ms`; True when it has stopped.

        A job still running after that (a long load) keeps its thread object alive until it ends:
        destroying a running QThread aborts the process. run_app exits without waiting for it.
        """
        if self._thread in _ORPHANS:          # already given up on once: do not wait again
            return False
        if self.scheduler.running is not None:
            self.scheduler.running.cancel.set()   # its remaining views are not wanted any more
        if self._thread.isRunning():
            self._thread.quit()
            if not self._thread.wait(timeout_ms):
                self._thread.setParent(None)
                _ORPHANS.append(self._thread)
                return False
        return True


_ORPHANS: list[QThread] = []


@atexit.register
def _wait_for_orphans() -> None:
    for t in _ORPHANS:
        t.wait()
