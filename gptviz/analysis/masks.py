"""Which keys a query may attend to: the causal mask, narrowed to a band for local / sliding-window layers
(GPT-Neo's local layers, Mistral, Qwen's sliding layers): key k is visible from query q when
q - window < k <= q, as transformers' sliding-window and GPT-Neo local masks have it."""
from __future__ import annotations

import numpy as np


def hidden(q: np.ndarray, k0: np.ndarray, k1: np.ndarray, window: int | None) -> np.ndarray:
    """(Q, K) True where every key of the bin k0[j]..k1[j]-1 is hidden from query q[i] (exact cells: k1 = k0 + 1)."""
    q = np.asarray(q)[:, None]
    out = np.asarray(k0)[None, :] > q                               # the whole bin is in the future
    if window is not None:
        out |= np.asarray(k1)[None, :] - 1 <= q - window            # the whole bin is before the band
    return out


def hidden_cells(T: int, window: int | None) -> np.ndarray:
    """(T, T) True where key k is hidden from query q."""
    pos = np.arange(T)
    return hidden(pos, pos, pos + 1, window)
