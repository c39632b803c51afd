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


def embedding_geometry(wte: np.ndarray, wpe: np.ndarray) -> dict[str, np.ndarray | float]:
    """What the geometry panel shows. wte: (V, d) token embeddings; wpe: (T, d) learned positions."""
    d = wte.shape[1]
    tok = np.linalg.norm(wte, axis=1)
    return {
        "position_norm": np.linalg.norm(wpe, axis=1),                        # (T,)
        "position_cosine": cosine_matrix(wpe).astype(np.float32),            # (T, T)
        "sinusoid_norm": float(np.sqrt(d / 2)),                              # every sinusoidal row has this norm
        "token_norm_median": float(np.median(tok)),
        "token_norm_scaled_median": float(np.median(tok) * np.sqrt(d)),      # the original's sqrt(d) scaling
    }
