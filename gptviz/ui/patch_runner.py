"""Activation patching sweeps in the worker thread, one at a time, with throttled progress and a cancel flag.

A sweep is one model run per cell (seconds to minutes), so it is not a view of the scheduler's jobs: those
are cancelled by any newer submission (a layer click), and a cancelled partial sweep must never be memoised
under the key of a complete one. A _PatchWorker lives in the worker's thread next to _Worker and uses its
model, so a sweep and the view jobs run one after the other on the same model. The GUI-side PatchRunner
keeps the complete results of the last few sweeps (key: model generation, prompt A with its BOS choice and
ablation set, prompt B, the metric's two token fields).
"""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, Signal, Slot

from ..core.tokenizer import Piece
from ..views.base import Context, Prompt

PROGRESS_EVERY_S = 0.05          # progress signals at most this often (plus the first and the last)
MEMO_SIZE = 8


@dataclass
class PatchJob:
    id: int
    generation: int
    prompt: Prompt                  # A: text, BOS choice, ablation set
    text_b: str
    token_text: str                 # "" = A's most likely next token; "[id]" = that id; else one token's text
    minus_text: str | None          # None: the logit alone; "" = B's most likely next token (when it is not A's)
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple:
        return (self.generation, self.prompt, self.text_b, self.token_text, self.minus_text)


@dataclass(frozen=True)
class PatchOutcome:
    job: PatchJob
    result: object | None           # views.interventions.PatchingResult (None when refused or failed)
    token: Piece | None = None      # the metric's tokens as resolved in the worker
    minus: Piece | None = None
    error: str = ""                 # why there is no result
    seconds: float = 0.0


def resolve(m, text: str, what: str) -> int:
    """One token id from what was typed: "[464]" is that id, anything else must encode to exactly one token."""
    found = re.fullmatch(r"\s*\[(\d+)\]\s*", text)
    if found:
        i = int(found.group(1))
        if not 0 <= i < m.config.vocab_size:
            raise ValueError(f"{what}: token id {i} is out of range 0..{m.config.vocab_size - 1}")
        return i
    ids = m.tokenizer.encode(text)
    if len(ids) != 1:
        shown = " ".join(f"“{p.text}”" for p in m.tokenizer.pieces(ids))
        raise ValueError(f"{what} “{text}” is {len(ids)} tokens{': ' + shown if ids else ''}; "
                         "the metric needs exactly one (type one piece, e.g. “ Mary” with its space, or [id])")
    return ids[0]


def check_prompts(ids_a, ids_b, block_size: int) -> None:
    """The refusals a sweep would meet, in the panel's words."""
    if len(ids_a) == 0:
        raise ValueError("prompt A (the main prompt) is empty: type one to patch into")
    if len(ids_b) == 0:
        raise ValueError("prompt B is empty: type a second prompt with as many tokens as A (the B box above)")
    if len(ids_a) != len(ids_b):
        raise ValueError(f"activation patching needs prompts with the same token count: A has {len(ids_a)} tokens, "
                         f"B has {len(ids_b)}; edit one so that they line up position by position")
    if len(ids_a) > block_size:
        raise ValueError(f"the prompts have {len(ids_a)} tokens, more than the model's context of {block_size}")


class _PatchWorker(QObject):
    progress = Signal(int, int, int)     # job id, runs done, runs in all
    finished = Signal(object)            # PatchOutcome

    def __init__(self, worker):
        super().__init__()
        self.worker = worker             # ui.worker._Worker: its model, in this same thread

    @Slot(object)
    def run(self, job: PatchJob) -> None:
        t0 = time.perf_counter()
        m = self.worker.model
        if m is None or job.cancel.is_set():
            self.finished.emit(PatchOutcome(job, None, error="no model is loaded" if m is None else "cancelled"))
            return
        try:
            from ..views.interventions import Patching
            ids_a, _ = m.encode(job.prompt.text, job.prompt.prepend_bos)
            ids_b, _ = m.encode(job.text_b, job.prompt.prepend_bos)
            check_prompts(ids_a, ids_b, m.config.block_size)
            tr = m.trace_ids(ids_a)                  # the clean model: patch_sweep runs without the ablation set
            top_a = int(tr.next_token_probs().argmax())
            token = top_a if not job.token_text.strip() else resolve(m, job.token_text, "the token")
            minus = None
            if job.minus_text is not None:
                if job.minus_text.strip():
                    minus = resolve(m, job.minus_text, "the other token")
                else:                                # B's top token, when it differs from A's
                    top_b = int(self.worker.other.trace_ids(ids_b).next_token_probs().argmax())
                    minus = top_b if top_b != token else None
            last = [0.0]

            def progress(done: int, total: int) -> None:
                now = time.perf_counter()
                if done in (1, total) or now - last[0] >= PROGRESS_EVERY_S:
                    last[0] = now
                    self.progress.emit(job.id, done, total)
            view = Patching(text_b=job.text_b, token=token, minus=minus)
            r = view.compute(Context(m, tr, job.prompt), progress, job.cancel.is_set)
        except (Exception, MemoryError) as e:
            from .worker import _message
            self.finished.emit(PatchOutcome(job, None, error=_message(e), seconds=time.perf_counter() - t0))
            return
        tok = m.tokenizer
        self.finished.emit(PatchOutcome(job, r, tok.piece(token), None if minus is None else tok.piece(minus),
                                        seconds=time.perf_counter() - t0))


class PatchRunner(QObject):
    """GUI side: run(job) cancels the sweep under way and queues `job` in the worker thread."""
    progressed = Signal(int, int, int)   # job id, done, total
    finished = Signal(object)            # PatchOutcome
    _toRun = Signal(object)

    def __init__(self, client, parent=None):
        super().__init__(parent)
        self.client = client
        self.running: PatchJob | None = None
        self.memo: OrderedDict[tuple, PatchOutcome] = OrderedDict()
        self._seq = 0
        self._worker = _PatchWorker(client._worker)
        self._worker.moveToThread(client._thread)
        client._thread.finished.connect(self._worker.deleteLater)
        self._toRun.connect(self._worker.run)
        self._worker.progress.connect(self.progressed)
        self._worker.finished.connect(self._on_finished)
        client.modelLoaded.connect(lambda _: self.memo.clear())
        client.busyChanged.connect(lambda _: self.client.loading and self.cancel())   # a load waits for no sweep

    def job(self, prompt: Prompt, text_b: str, token_text: str, minus_text: str | None) -> PatchJob:
        self._seq += 1
        return PatchJob(self._seq, self.client.scheduler.generation, prompt, text_b, token_text, minus_text)

    def lookup(self, job: PatchJob) -> PatchOutcome | None:
        return self.memo.get(job.key)

    def run(self, job: PatchJob) -> None:
        self.cancel()
        self.running = job
        self._toRun.emit(job)

    def cancel(self) -> None:
        if self.running is not None:
            self.running.cancel.set()        # checked between two runs of the sweep

    def _on_finished(self, out: PatchOutcome) -> None:
        if out.job is self.running:
            self.running = None
        r = out.result
        if r is not None and not r.cancelled and out.job.generation == self.client.scheduler.generation:
            self.memo[out.job.key] = out       # complete sweeps only
            while len(self.memo) > MEMO_SIZE:
                self.memo.popitem(last=False)
        self.finished.emit(out)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Close:       # the window closes: its worker thread must not wait for a sweep
            self.cancel()
        return False
