"""The request policy between the GUI and the one worker thread, without Qt (as napari's _layer_slicer).

submit(prompt, views) answers at once with the memoised results it already has, and sends a Job for the
rest: at most one job runs and one waits; a newer submission replaces the waiting one and cancels the
running one between two views (the view under way finishes and is memoised: a result is right for its key
whoever asked). A submission whose missing views the running job is computing anyway sends nothing.

Memo keys: (model generation, token ids, prompt length in tokens, BOS, view). The GUI learns a prompt's
token ids when the worker has traced it (learn), so an unchanged prompt finds its results without asking
the worker; switching back to a layer or head seen before computes nothing.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable

from .base import Prompt, Result, View


@dataclass
class Job:
    id: int
    generation: int
    prompt: Prompt
    views: tuple[View, ...]              # in the order they are computed
    cancel: threading.Event = field(default_factory=threading.Event)
    done: set = field(default_factory=set)   # views delivered so far

    def remaining(self) -> set:
        return set(self.views) - self.done


class Scheduler:
    def __init__(self, send: Callable[[Job], None], max_entries: int = 256, max_bytes: int = 512 << 20):
        self.send = send                 # hands a job to the worker (a queued signal in the app)
        self.generation = 0
        self.running: Job | None = None
        self.pending: Job | None = None
        self.paused = False              # a load or a generation holds new jobs back (they wait as pending)
        self.memo: OrderedDict[tuple, Result] = OrderedDict()
        self.known: OrderedDict[tuple, tuple] = OrderedDict()   # (generation, prompt) -> token key
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.bytes = 0
        self.seq = 0                     # submissions so far; job ids are the submission that made them
        self.sent = 0                    # jobs handed to the worker
        self.hits = 0                    # results answered from the memo

    # ---------- keys ----------
    def key(self, prompt: Prompt, view: View) -> tuple | None:
        if not view.per_prompt:
            return (self.generation, view)
        tokens = self.known.get((self.generation, prompt))
        return None if tokens is None else (self.generation, tokens, prompt.prepend_bos, prompt.ablation, view)

    def learn(self, generation: int, prompt: Prompt, token_key: tuple) -> None:
        """The worker traced `prompt`: token_key is (token ids bytes, prompt length in tokens)."""
        if generation != self.generation:
            return
        self.known[(generation, prompt)] = token_key
        self.known.move_to_end((generation, prompt))
        while len(self.known) > 4 * self.max_entries:
            self.known.popitem(last=False)

    def lookup(self, prompt: Prompt, view: View) -> Result | None:
        k = self.key(prompt, view)
        r = self.memo.get(k) if k is not None else None
        if r is None:
            return None
        self.memo.move_to_end(k)
        # a result is shared by every text with the same tokens: it is handed out under the asking prompt
        return r if r.prompt == prompt or r.prompt is None else replace(r, prompt=prompt)

    def store(self, generation: int, prompt: Prompt, view: View, result: Result | None) -> None:
        if generation != self.generation or result is None:
            return
        k = self.key(prompt, view)
        if k is None or k in self.memo:
            return
        self.memo[k] = result
        self.bytes += result.nbytes()
        if view.memo_max is not None:
            # oldest first: the kind's least recently used results beyond its limit go
            same = [key for key in self.memo if type(key[-1]) is type(view)]
            for key in same[:max(0, len(same) - view.memo_max)]:
                self.bytes -= self.memo.pop(key).nbytes()
        while self.memo and (len(self.memo) > self.max_entries or self.bytes > self.max_bytes):
            _, old = self.memo.popitem(last=False)
            self.bytes -= old.nbytes()

    # ---------- submissions ----------
    def submit(self, prompt: Prompt, views) -> tuple[int, list[tuple[View, Result]]]:
        """(this submission's id, [(view, memoised result)]); the missing views are computed by a job."""
        self.seq += 1
        views = sorted(dict.fromkeys(views), key=lambda v: v.priority)
        hits, missing = [], []
        for v in views:
            r = self.lookup(prompt, v)
            if r is None:
                missing.append(v)
            else:
                hits.append((v, r))
        self.hits += len(hits)
        run = self.running
        if run is not None and not run.cancel.is_set() and run.generation == self.generation \
                and run.prompt == prompt and set(missing) <= run.remaining():
            self.pending = None          # the running job computes all of it: nothing to add
            return run.id, hits
        if run is not None:
            run.cancel.set()             # superseded: it stops before its next view
        self.pending = None
        if missing:
            job = Job(self.seq, self.generation, prompt, tuple(missing))
            if run is None and not self.paused:
                self._start(job)
            else:
                self.pending = job
        return self.seq, hits

    def _start(self, job: Job) -> None:
        self.running = job
        self.sent += 1
        self.send(job)

    def delivered(self, job: Job, view: View, result: Result | None) -> None:
        job.done.add(view)
        self.store(job.generation, job.prompt, view, result)

    def finished(self, job: Job | None = None) -> None:
        """The running job ended (all views, cancelled or failed): the waiting one starts."""
        if job is None or job is self.running:
            self.running = None
        self.resume()

    def resume(self) -> None:
        if self.running is None and self.pending is not None and not self.paused:
            job, self.pending = self.pending, None
            self._start(job)

    def new_model(self) -> None:
        """A model was loaded: every result and token key belongs to the previous one."""
        self.generation += 1
        self.memo.clear()
        self.known.clear()
        self.bytes = 0
        if self.running is not None:
            self.running.cancel.set()
        self.pending = None

    @property
    def idle(self) -> bool:
        return self.running is None and self.pending is None
