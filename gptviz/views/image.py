"""Heatmaps as the screen shows them, built in the worker: float values quantised to one byte per cell.

Colour-mapping a float image (levels, lookup table, NaN transparency) on the GUI thread took 10-40 ms per
heatmap of a long prompt. A result instead carries uint8 colour indices: 0..LEVELS-1 are steps of the
colour map from `lo` to `hi`, NAN is transparent (no value) and MASK the causal mask's grey. The GUI draws
them as an indexed image (Qt maps the 256-entry colour table while it draws; no numpy on the GUI thread).
The float values stay in the result for hover read-outs, export and tests."""
from __future__ import annotations

import numpy as np

from ..analysis.masks import hidden_cells

LEVELS = 254          # colour steps: index i is the colour map at i / (LEVELS - 1)
NAN = 254             # no value (a NaN model; the gaps between thumbnails): transparent
MASK = 255            # hidden cells (future keys, keys before a local layer's window): the mask grey
ROWS_PER_STEP = 256   # rows quantised per numpy call, so no one call holds the GIL long


def quantise(values: np.ndarray, lo: float = 0.0, hi: float = 1.0, hidden: np.ndarray | None = None) -> np.ndarray:
    """uint8 colour indices of `values` (any shape, last two axes a matrix): floor((v - lo) / (hi - lo) *
    LEVELS) clipped to 0..LEVELS-1, NAN where v is NaN, MASK where `hidden` (broadcast to the last two axes)."""
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
                x[np.isnan(x)] = NAN
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
