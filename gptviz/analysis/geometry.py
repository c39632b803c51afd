"""Embedding geometry: learned position embeddings against the original Transformer's sinusoids."""
from __future__ import annotations

import numpy as np


def sinusoidal(T: int, d: int) -> np.ndarray:
    """(T, d) encoding of "Attention is all you need": sin on even, cos on odd dimensions."""
    pos = np.arange(T)[:, None]
    freq = np.exp(-np.log(10000.0) * np.arange(0, d, 2) / d)          # (d/2,)
    pe = np.zeros((T, d))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos * freq), np.cos(pos * freq[: d // 2])
    return pe


def cosine_matrix(w: np.ndarray) -> np.ndarray:
    """(N, N) cosine similarity of the rows of w (a zero row has similarity 0 with everything)."""
    n = np.linalg.norm(w, axis=1, keepdims=True)
    u = np.divide(w, n, out=np.zeros_like(w, dtype=np.float64), where=n > 0)
    return u @ u.T


def shared_rows(wte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of wte that more than one id uses exactly, e.g. the one row a compact-vocabulary training
    leaves for every id it never saw. Returns (unique rows (U, d), sorted int64 ids whose row is shared)."""
    rows, inverse, counts = np.unique(wte, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)                                       # (V,): numpy 2.0.0 returned (V, 1)
    shared = np.flatnonzero(counts[inverse] > 1).astype(np.int64)       # flatnonzero is already sorted
    return rows, shared


def embedding_geometry(wte: np.ndarray, wpe: np.ndarray) -> dict[str, np.ndarray | float | int]:
    """What the geometry panel shows. wte: (V, d) token embeddings; wpe: (T, d) learned positions.
    Token-norm statistics count each distinct row once, so thousands of ids sharing one untrained row
    do not decide the median."""
    d = wte.shape[1]
    rows, shared = shared_rows(wte)
    tok = np.linalg.norm(rows, axis=1)                                  # (U,)
    median = float(np.median(tok))
    return {
        "position_norm": np.linalg.norm(wpe, axis=1),                        # (T,)
        "position_cosine": cosine_matrix(wpe).astype(np.float32),            # (T, T)
        "sinusoid_norm": float(np.sqrt(d / 2)),                              # every sinusoidal row has this norm
        "token_norm_median": median,
        "token_norm_scaled_median": median * float(np.sqrt(d)),              # the original's sqrt(d) scaling
        "unique_rows": int(len(rows)),
        "shared_ids": shared,                                                # (S,) int64, sorted
        "shared_count": int(len(shared)),
        "shared_row_groups": int(len(rows) - (len(wte) - len(shared))),     # distinct rows behind shared ids
    }
