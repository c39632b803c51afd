"""Choosing the next token from a probability vector: top-k and top-p (nucleus) filtering, seeded draws."""
from __future__ import annotations

import numpy as np


def filter_probs(probs: np.ndarray, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Keep the top_k most probable ids (0: all) and the smallest set whose mass reaches top_p; renormalise."""
    p = np.asarray(probs, dtype=np.float64).copy()
    if top_k and top_k < np.count_nonzero(p):
        kth = np.partition(p, -top_k)[-top_k]
        p[p < kth] = 0.0
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order]) / p.sum()
        cut = int(np.searchsorted(cum, top_p)) + 1           # include the token that crosses top_p
        p[order[cut:]] = 0.0
    s = p.sum()
    if s <= 0:
        raise ValueError("no token has non-zero probability")
    return p / s


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    return int(rng.choice(len(probs), p=probs))
