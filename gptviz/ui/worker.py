"""One worker thread owns the model; the GUI talks to it only through queued signals.

WorkerClient (GUI side) keeps at most one request running and one pending: a newer request
replaces the pending one, so only the newest text is ever computed after the running one.
"""
from __future__ import annotations

import atexit
import traceback
from dataclasses import dataclass, field, replace

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core.config import GPTConfig
from ..views.frame import FrameBuilder, Request


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
    #                                               until geometryReady (computed after the first frame)


def _message(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg if isinstance(e, (ValueError, OSError)) and msg else f"{type(e).__name__}: {msg}"


class _Worker(QObject):
    loaded = Signal(object)            # ModelInfo
    loadFailed = Signal(str, str)      # what was asked, why it failed
    frameReady = Signal(object)        # Frame
    computeFailed = Signal(int, str)   # request id, message
    generated = Signal(int, str)       # job id, the continuation so far
    generationDone = Signal(int, str)  # job id, "" or an error message
    allAttention = Signal(int, object, str)   # request id, (L, H, T, T) float32 or None, "" or an error message
    geometryReady = Signal(object)     # the ModelInfo again, with its geometry

    def __init__(self, device: str):
        super().__init__()
        self.device = device
        self.builder: FrameBuilder | None = None
        self.info: ModelInfo | None = None

    @Slot(object)
    def load(self, path):
        try:
            from ..api import open_model
            model = open_model(path, device=self.device)
            builder = FrameBuilder(model)
        except (Exception, MemoryError) as e:   # the previous model stays loaded
            self.loadFailed.emit("the built-in model" if path is None else str(path), _message(e))
            return
        self.builder = builder
        self.info = ModelInfo(model.name, model.source, model.format, model.config, model.tokenizer.name,
                              model.tokenizer.eot_id, list(model.warnings))
        self.loaded.emit(self.info)

    @Slot()
    def geometry(self):
        """The embeddings' geometry (seconds for a 50k vocabulary: its distinct rows are sorted), asked for
        after the first frame so that it does not delay the panels."""
        if self.builder is None or self.info.geometry:
            self.geometryReady.emit(self.info)    # always answer: the client waits for it
            return
        from ..analysis.geometry import embedding_geometry
        tr = self.builder.model.model.transformer
        try:
            g = embedding_geometry(tr.wte.weight.detach().float().cpu().numpy(),
                                   tr.wpe.weight.detach().float().cpu().numpy())
        except (Exception, MemoryError) as e:
            traceback.print_exc()
            g = {"error": _message(e)}
        self.info = replace(self.info, geometry=g)
        self.geometryReady.emit(self.info)

    @Slot(object)
    def compute(self, req: Request):
        if self.builder is None:
            self.computeFailed.emit(req.id, "no model is loaded")
            return
        try:
            frame = self.builder.build(req)
        except Exception as e:
            traceback.print_exc()
            self.computeFailed.emit(req.id, _message(e))
            return
        self.frameReady.emit(frame)

    @Slot(object)
    def all_attention(self, req: Request):
        """Every layer's attention for `req`'s text (for exports), one layer at a time from the cached trace."""
        if self.builder is None:
            self.allAttention.emit(req.id, None, "no model is loaded")
            return
        try:
            tr = self.builder.model.trace(req.text, prepend_bos=req.prepend_bos)
            att = np.stack([tr.attention(layer) for layer in range(tr.n_layer)])   # (L, H, T, T)
        except (Exception, MemoryError) as e:
            self.allAttention.emit(req.id, None, _message(e))
            return
        self.allAttention.emit(req.id, att, "")

    @Slot(object)
    def generate(self, job):
        from ..core.generate import generate_ids
        if self.builder is None:
            self.generationDone.emit(job.id, "no model is loaded")
            return
        model = self.builder.model
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
    """GUI-side handle: submit requests and loads; signals come back on the GUI thread."""
    frameReady = Signal(object)
    computeFailed = Signal(int, str)
    modelLoaded = Signal(object)
    loadFailed = Signal(str, str)
    busyChanged = Signal(bool)
    generated = Signal(int, str)
    generationDone = Signal(int, str)
    allAttention = Signal(int, object, str)
    geometryReady = Signal(object)
    _toCompute = Signal(object)
    _toLoad = Signal(object)
    _toGenerate = Signal(object)
    _toAllAttention = Signal(object)
    _toGeometry = Signal()

    def __init__(self, device: str = "cpu", parent=None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("gptviz-worker")
        self._worker = _Worker(device)
        self._worker.moveToThread(self._thread)
        self._toCompute.connect(self._worker.compute)
        self._toLoad.connect(self._worker.load)
        self._toGenerate.connect(self._worker.generate)
        self._toAllAttention.connect(self._worker.all_attention)
        self._worker.allAttention.connect(self.allAttention)
        self._toGeometry.connect(self._worker.geometry)
        self._worker.geometryReady.connect(self._on_geometry)
        self._worker.generated.connect(self.generated)
        self._worker.generationDone.connect(self._on_generation_done)
        self._worker.frameReady.connect(self._on_frame)
        self._worker.computeFailed.connect(self._on_failed)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.loadFailed.connect(self._on_load_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()
        self.running: Request | None = None
        self.pending: Request | None = None
        self.loading = False
        self.generating = None         # the GenerateJob under way
        self.sent = 0                  # requests actually computed (for tests and the status bar)
        self.geometry_pending = False

    # --- requests ---
    def submit(self, req: Request) -> None:
        if self.running is None and not self.loading and self.generating is None:
            self._send(req)
        else:
            self.pending = req         # newest wins: an older pending request is dropped

    def _send(self, req: Request) -> None:
        self.running = req
        self.sent += 1
        self._toCompute.emit(req)
        self.busyChanged.emit(True)

    def _next(self) -> None:
        self.running = None
        if self.pending is not None and not self.loading and self.generating is None:
            req, self.pending = self.pending, None
            self._send(req)
        elif not self.loading:
            self.busyChanged.emit(False)

    def _on_frame(self, frame) -> None:
        self._next()
        self.frameReady.emit(frame)

    def _on_failed(self, req_id: int, msg: str) -> None:
        self._next()
        self.computeFailed.emit(req_id, msg)

    # --- loading ---
    def load(self, path) -> None:
        self.loading = True
        self.busyChanged.emit(True)
        self._toLoad.emit(path)

    def _on_loaded(self, info) -> None:
        self.loading = False
        self.pending = None            # computed for the old model; the window submits again
        self.modelLoaded.emit(info)
        if self.running is None:
            self.busyChanged.emit(False)

    def _on_load_failed(self, what: str, msg: str) -> None:
        self.loading = False
        self.loadFailed.emit(what, msg)
        if self.running is None:
            self._next()

    # --- generation ---
    def generate(self, job) -> None:
        """Queue a generation behind the running request; requests made meanwhile wait (newest wins)."""
        self.generating = job
        self.busyChanged.emit(True)
        self._toGenerate.emit(job)

    def _on_generation_done(self, job_id: int, error: str) -> None:
        self.generating = None
        self.generationDone.emit(job_id, error)
        if self.running is None:
            self._next()

    # --- geometry ---
    def request_geometry(self) -> None:
        if not self.geometry_pending:
            self.geometry_pending = True
            self._toGeometry.emit()

    def _on_geometry(self, info) -> None:
        self.geometry_pending = False
        self.geometryReady.emit(info)

    # --- exports ---
    def all_attention(self, req: Request) -> None:
        """Ask for every layer's attention of `req`'s text; `allAttention` answers after the running job."""
        self._toAllAttention.emit(req)

    @property
    def idle(self) -> bool:
        return (self.running is None and self.pending is None and not self.loading and self.generating is None
                and not self.geometry_pending)

    def shutdown(self, timeout_ms: int = 1500) -> bool:
        """Stop the thread after the current job, waiting at most `timeout_ms`; True when it has stopped.

        A job still running after that (a long load) keeps its thread object alive until it ends:
        destroying a running QThread aborts the process. run_app exits without waiting for it.
        """
        if self._thread in _ORPHANS:          # already given up on once: do not wait again
            return False
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
