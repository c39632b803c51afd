"""Attention-pattern helpers on numpy arrays."""
from __future__ import annotations

import numpy as np


def bin_edges(T: int, size: int) -> np.ndarray:
    """Edges of `size` contiguous, near-equal bins over 0..T."""
    return np.linspace(0, T, size + 1).round().astype(int)


def thumbnail_rows(T: int, size: int) -> np.ndarray:
    """The query sampled for each row bin of a thumbnail: the bin's last position."""
    return bin_edges(T, size)[1:] - 1 if T > size else np.arange(T)


def pool_keys(rows: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last (key) axis of sampled attention rows to `size` bins."""
    T = rows.shape[-1]
    if T <= size:
        return rows.astype(np.float32, copy=False)
    edges = bin_edges(T, size)
    return (np.add.reduceat(rows, edges[:-1], axis=-1) / np.diff(edges)).astype(np.float32)


def pool(att: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two (T, T) axes to at most (size, size), for overview thumbnails.

    Bins are contiguous index ranges of near-equal length, so every cell is covered exactly once.
    """
    T = att.shape[-1]
    if T <= size:
        return att.astype(np.float32, copy=False)
    edges = bin_edges(T, size)
    # sum over row bins then column bins with reduceat, divide by bin areas
    rows = np.add.reduceat(att, edges[:-1], axis=-2)
    cells = np.add.reduceat(rows, edges[:-1], axis=-1)
    widths = np.diff(edges).astype(np.float64)
    return (cells / np.outer(widths, widths)).astype(np.float32)
