"""Softmax with temperature and top-k, on numpy arrays."""
from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0, mask: np.ndarray | None = None) -> np.ndarray:
    """(V,) probabilities of softmax(logits / temperature); masked-out or non-finite logits get 0.

    temperature <= 0 is greedy (all mass on the arg-max).
    """
    z = np.asarray(logits, dtype=np.float64)
    ok = np.isfinite(z) if mask is None else (np.isfinite(z) & mask)
    out = np.zeros_like(z)
    if not ok.any():
        return out
    if temperature <= 0:
        out[np.flatnonzero(ok)[np.argmax(z[ok])]] = 1.0
        return out
    zz = z[ok] / temperature
    e = np.exp(zz - zz.max())
    out[ok] = e / e.sum()
    return out


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable ids (ties by lower id) and their probabilities, best first."""
    k = max(0, min(int(k), len(probs)))
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, probs.dtype)
    part = np.argpartition(-probs, k - 1)[:k]
    # argpartition picks arbitrary ids among those tied with the k-th value: take the lowest of them
    kth = probs[part].min()
    above = np.flatnonzero(probs > kth)
    sel = np.concatenate([above, np.flatnonzero(probs == kth)[: k - len(above)]])
    order = sel[np.lexsort((sel, -probs[sel]))]
    return order.astype(np.int64), probs[order]


def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats, 0 log 0 = 0 (in the input's float precision)."""
    p = np.asarray(probs)
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    logp = np.log(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logp).sum(axis=axis)
