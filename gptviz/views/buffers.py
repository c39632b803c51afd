"""Recycled memory for the exact attention patterns views hand to the GUI (no Qt, no torch).

A pattern the memo keeps is 12.6 MB at 512 tokens (GPT-2 small), an mmap'd block that the kernel page-faults
in on first touch: measured in one process, computing a layer's pattern into fresh memory took 12-26 ms
(0-8 ms of it system time, ~220 faults of mostly huge pages), into memory already touched 10.6-11.2 ms with
no faults. The memo keeps a few patterns (Attention.memo_max) and lets older ones go; their blocks come
here when nothing reads them any more, and the next pattern is computed into one.

A block is reused only when no array still refers to it: a result, a panel or a numpy view of it all hold
a reference, and `take` checks the block's reference count (a shared block is left for the next time).
"""
from __future__ import annotations

import math
import sys
import threading
import weakref

import numpy as np

SLACK = 1.125        # a block holds 12.5 % more than asked: the next keystrokes' patterns (T + 1, T + 2...) fit
MAX_WASTE = 2.0      # a block more than twice the size asked for is left for a larger pattern
# references a free block has when nothing else reads it: the free list's and getrefcount's argument
_UNSHARED = 2


class BufferPool:
    """Free float32 blocks, at most `max_blocks` and `max_bytes` together (a newer block replaces the
    oldest). Thread-safe: blocks come back on whichever thread drops the last array, the worker takes them."""

    def __init__(self, max_blocks: int = 2, max_bytes: int = 192 << 20):
        self.max_blocks, self.max_bytes = max_blocks, max_bytes
        self._free: list[np.ndarray] = []       # 1-D float32, oldest first
        self._lock = threading.Lock()
        self.reused = self.fresh = 0            # takes answered from the free list / with a new block

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised writable float32 array of `shape`, C-contiguous, in a recycled block when one
        fits. Its block comes back to the pool when the array (and every view of it) is gone."""
        n = math.prod(shape)
        block = self._reuse(n)
        if block is None:
            block = np.empty(max(1, math.ceil(n * SLACK)), np.float32)
            self.fresh += 1
        else:
            self.reused += 1
        out = block[:n].reshape(shape)
        weakref.finalize(out, self._give, block).atexit = False
        return out

    def _reuse(self, n: int) -> np.ndarray | None:
        with self._lock:                      # indexed, not bound to a name: no reference of our own
            best = None
            for i in range(len(self._free)):
                size = self._free[i].size
                if n <= size <= MAX_WASTE * n and sys.getrefcount(self._free[i]) == _UNSHARED \
                        and (best is None or size < self._free[best].size):
                    best = i
            return None if best is None else self._free.pop(best)

    def _give(self, block: np.ndarray) -> None:
        with self._lock:
            self._free.append(block)
            while self._free and (len(self._free) > self.max_blocks
                                  or sum(b.nbytes for b in self._free) > self.max_bytes):
                self._free.pop(0)

    def clear(self) -> None:
        """Drop every free block (a model load: the next patterns have other shapes)."""
        with self._lock:
            self._free.clear()


PATTERNS = BufferPool()          # the process's pool for exact (H, T, T) patterns (views.base.Context)
