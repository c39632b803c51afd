"""Heatmaps as the screen shows them, built in the worker: float values quantised to one byte per cell.

Colour-mapping a float image (levels, lookup table, NaN transparency) on the GUI thread took 10-40 ms per
heatmap of a long prompt. A result instead carries uint8 colour indices: 0..LEVELS-1 are steps of the
colour map from `lo` to `hi`, NAN is transparent (no value) and MASK the causal mask's grey. The GUI draws
them as an indexed image (Qt maps the 256-entry colour table while it draws; no numpy on the GUI thread).
The float values stay in the result for hover read-outs, export and tests."""
from __future__ import annotations

import threading

import numpy as np

from ..analysis.masks import hidden_cells

LEVELS = 254          # colour steps: index i is the colour map at i / (LEVELS - 1)
NAN = 254             # no value (a NaN model; the gaps between thumbnails): transparent
MASK = 255            # hidden cells (future keys, keys before a local layer's window): the mask grey
ROWS_PER_STEP = 256   # rows quantised per numpy call, so no one call holds the GIL long


def quantise(values: np.ndarray, lo: float = 0.0, hi: float = 1.0, hidden: np.ndarray | None = None,
             nan: int = NAN) -> np.ndarray:
    """uint8 colour indices of `values` (any shape, last two axes a matrix): floor((v - lo) / (hi - lo) *
    LEVELS) clipped to 0..LEVELS-1, `nan` (NAN: transparent) where v is NaN, MASK where `hidden` (broadcast
    to the last two axes)."""
    v = np.asarray(values, np.float32)
    out = np.empty(v.shape, np.uint8)
    if not v.size:
        return out
    scale = LEVELS / max(hi - lo, 1e-30)
    flat_v = v.reshape(-1, *v.shape[-2:]) if v.ndim >= 2 else v.reshape(1, 1, -1)
    flat_o = out.reshape(flat_v.shape)
    R = flat_v.shape[1]
    # hidden cells as bytes: MASK is the largest index, so one np.maximum marks them
    h = None if hidden is None else np.broadcast_to(np.asarray(hidden, bool), flat_v.shape[1:]).astype(np.uint8) * MASK
    for m in range(flat_v.shape[0]):
        for r0 in range(0, R, ROWS_PER_STEP):
            x = flat_v[m, r0:r0 + ROWS_PER_STEP] * np.float32(scale)               # (rows, cols) float32
            if lo:
                x -= np.float32(lo * scale)
            np.clip(x, 0, LEVELS - 1, out=x)                                        # NaN stays NaN
            if np.isnan(x.max()):                                                   # (nan_to_num: 10x slower)
                x[np.isnan(x)] = nan
            o = flat_o[m, r0:r0 + ROWS_PER_STEP]
            o[...] = x                                                              # the cast floors
            if h is not None:
                np.maximum(o, h[r0:r0 + ROWS_PER_STEP], out=o)
    return out


_MASKS: dict = {}


def causal_hidden(T: int, window: int | None = None) -> np.ndarray:
    """(T, T) bool, True where key k is hidden from query q (read-only, cached for the last few shapes)."""
    key = (T, window if window is not None and window < T else None)
    if key not in _MASKS:
        if len(_MASKS) > 4:
            _MASKS.pop(next(iter(_MASKS)))
        m = hidden_cells(T, key[1])
        m.flags.writeable = False
        _MASKS[key] = m
    return _MASKS[key]


class HeadImages:
    """The colour indices of a stack of matrices (one per head), quantised one matrix at a time when first
    asked for and kept: a layer switch indexes only the head on screen (the worker asks for it before the
    result leaves), another head costs one matrix's quantise when it is shown (about 1 ms at 512 tokens).
    images[h] is the read-only (rows, cols) uint8 matrix; safe to read from any thread."""

    def __init__(self, values: np.ndarray, lo: float = 0.0, hi: float = 1.0, hidden: np.ndarray | None = None,
                 nan: int = NAN):
        self._values, self._args = values, (lo, hi, hidden, nan)        # values: (H, rows, cols)
        self._done: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._values.shape

    def __len__(self) -> int:
        return self._values.shape[0]

    def __getitem__(self, head: int) -> np.ndarray:
        H = len(self)
        if not -H <= head < H:
            raise IndexError(f"head {head} of {H}")
        head %= H
        with self._lock:
            if head not in self._done:
                m = quantise(self._values[head], *self._args)            # (rows, cols)
                m.flags.writeable = False
                self._done[head] = m
            return self._done[head]

    @property
    def indexed(self) -> tuple[int, ...]:
        """The heads quantised so far."""
        with self._lock:
            return tuple(sorted(self._done))

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._done.values())
