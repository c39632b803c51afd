"""Attention-pattern helpers on numpy arrays."""
from __future__ import annotations

import numpy as np


def pool(att: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two (T, T) axes to at most (size, size), for overview thumbnails.

    Bins are contiguous index ranges of near-equal length, so every cell is covered exactly once.
    """
    T = att.shape[-1]
    if T <= size:
        return att.astype(np.float32, copy=False)
    edges = np.linspace(0, T, size + 1).round().astype(int)
    # sum over row bins then column bins with reduceat, divide by bin areas
    rows = np.add.reduceat(att, edges[:-1], axis=-2)
    cells = np.add.reduceat(rows, edges[:-1], axis=-1)
    widths = np.diff(edges).astype(np.float64)
    return (cells / np.outer(widths, widths)).astype(np.float32)
