"""Per-head statistics over a prompt, from exact attention rows (all queries, or an even sample of them).

prev: mean attention on the previous token; first: mean attention on position 0 (the "sink");
induction: mean attention on the tokens that followed earlier occurrences of the current token
(over queries that have such an occurrence); entropy: mean row entropy in nats.
"""
from __future__ import annotations

import numpy as np

from .probabilities import entropy

STATS = ("entropy", "prev", "first", "induction")
MAX_ROWS = 128


def sample_rows(T: int, n: int = MAX_ROWS) -> np.ndarray:
    """Query positions used for the statistics: all of them, or n spread evenly (always including the last)."""
    return np.arange(T) if T <= n else np.unique(np.linspace(0, T - 1, n).round().astype(int))


def induction_targets(token_ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(R, T) bool: for query r, the keys j+1 with j < r and token j equal to token r (what induction copies)."""
    ids = np.asarray(token_ids)
    T = len(ids)
    same = ids[None, :-1] == ids[rows][:, None]                  # (R, T-1): token j equals the query's token
    earlier = np.arange(T - 1)[None, :] < rows[:, None]          # j strictly before the query
    out = np.zeros((len(rows), T), bool)
    out[:, 1:] = same & earlier                                  # mark key j+1
    return out


def head_scores(rows_att: np.ndarray, rows: np.ndarray, token_ids: np.ndarray) -> dict[str, np.ndarray]:
    """rows_att: (H, R, T) attention of query positions `rows`. Returns each statistic as (H,)."""
    H, R, T = rows_att.shape
    out = {"entropy": entropy(rows_att, axis=-1).mean(axis=-1)}
    k = rows >= 1
    if k.any():
        out["prev"] = rows_att[:, k, rows[k] - 1].mean(axis=-1)
        out["first"] = rows_att[:, k, 0].mean(axis=-1)
    else:
        out["prev"] = out["first"] = np.full(H, np.nan)
    targets = induction_targets(token_ids, rows)                  # (R, T)
    has = targets.any(axis=1)
    out["induction"] = ((rows_att * targets[None]).sum(-1)[:, has].mean(axis=-1) if has.any()
                        else np.full(H, np.nan))
    return out
