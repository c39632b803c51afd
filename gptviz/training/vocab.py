"""Training over only the token ids that occur in the data, with an exact full-vocabulary equivalent.

GPT-2's vocabulary has 50,257 ids; a 0.6M-token corpus uses ~15k of them. Training over all of them
spends most of each step on the unembedding (d × 50,257) for ids that are never a target and whose
rows are never an input. Here the model is trained with K+1 rows: the K ids that occur, plus one
shared "unused" row u standing for the other N = V - K ids. Its logit gets + ln N because N
identical rows u in the full softmax contribute N·exp(h·u).

`expand` writes the full (V, d) table: row used[i] = compact row i, every other row = u. The full
model's softmax over V ids is then exactly the compact softmax with the ln N correction, so the
loss measured in training is the loss of the model that is saved (tested).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class CompactVocab:
    def __init__(self, used: np.ndarray, n_vocab: int):
        self.used = np.unique(np.asarray(used, dtype=np.int64))           # (K,) sorted full ids
        self.n_vocab = n_vocab
        self.K = len(self.used)
        self.n_unused = n_vocab - self.K
        if self.n_unused < 1:
            raise ValueError("the data uses every id of the vocabulary: nothing to compact")
        self.log_unused = math.log(self.n_unused)
        self.lut = np.full(n_vocab, self.K, dtype=np.int64)               # full id -> compact id (K: unused)
        self.lut[self.used] = np.arange(self.K)

    @property
    def size(self) -> int:
        return self.K + 1

    def to_compact(self, ids: np.ndarray) -> np.ndarray:
        """Map full ids to compact ids; -1 (no loss) stays -1."""
        out = self.lut[np.where(ids < 0, 0, ids)]
        return np.where(ids < 0, -1, out)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the full-vocabulary model. logits (B, T, K+1), targets (B, T) compact ids."""
        logits = logits.float()
        bias = torch.zeros(self.size, dtype=logits.dtype)
        bias[self.K] = self.log_unused                                      # N identical rows u
        logp = F.log_softmax(logits + bias, dim=-1)                         # (B, T, K+1)
        mask = targets >= 0
        t = targets.clamp(min=0)
        nll = -logp.gather(-1, t[..., None])[..., 0]                        # (B, T)
        nll = nll + (t == self.K).to(nll.dtype) * self.log_unused           # one particular unused id: 1/N of u's mass
        return (nll * mask).sum() / mask.sum().clamp(min=1)

    def expand(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The compact model's state dict with full-vocabulary embedding (and lm_head, if present) rows."""
        lut = torch.from_numpy(self.lut)
        out = dict(state)
        for k in ("transformer.wte.weight", "lm_head.weight"):
            if k in out:
                out[k] = out[k][lut].clone()                                # (V, C)
        return out
