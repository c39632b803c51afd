"""Compare: prompt B (traced with its own prefix cache) next to the prompt A of the context."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.probabilities import top_k
from ..core.tokenizer import Piece
from .base import Context, Result, View
from .prompt_views import next_probs


@dataclass(frozen=True, eq=False)
class CompareResult(Result):
    layer: int
    attention_a: np.ndarray              # (H, T_A, T_A) of `layer`
    tokens_b: list[Piece]
    attention_b: np.ndarray              # (H, T_B, T_B)
    top_ids: np.ndarray                  # union of both top-k lists, by A's probability then B's
    probs_a: np.ndarray                  # A's probability of each
    probs_b: np.ndarray
    top_pieces: list[Piece]

    @property
    def text_b(self) -> str:
        return self.view.text_b


@dataclass(frozen=True)
class Compare(View):
    text_b: str = ""
    layer: int = 0
    temperature: float = 1.0
    top_k: int = 10
    priority = 10

    def compute(self, ctx: Context) -> CompareResult | None:
        """None when either prompt has no tokens (nothing to compare)."""
        from .attention import EXACT_MAX
        if ctx.trace.T > EXACT_MAX:             # two whole (H, T, T) patterns: too big to hold side by side
            raise ValueError(f"Compare prompts shows exact patterns of prompts up to {EXACT_MAX:,} tokens; "
                             f"prompt A has {ctx.trace.T:,}")
        other = ctx.other.trace(self.text_b, prepend_bos=ctx.prompt.prepend_bos)
        if other.T == 0 or ctx.trace.T == 0:
            return None
        if other.T > EXACT_MAX:
            raise ValueError(f"Compare prompts shows exact patterns of prompts up to {EXACT_MAX:,} tokens; "
                             f"prompt B has {other.T:,}")
        pa = next_probs(ctx, self.temperature)
        pb = other.next_token_probs(self.temperature)
        ia, _ = top_k(pa, self.top_k)
        ib, _ = top_k(pb, self.top_k)
        ids = np.array(list(dict.fromkeys([*ia.tolist(), *ib.tolist()])), dtype=np.int64)
        return ctx.result(CompareResult, self, layer=self.layer, attention_a=ctx.attention(self.layer),
                          tokens_b=other.tokens, attention_b=other.attention(self.layer), top_ids=ids,
                          probs_a=pa[ids], probs_b=pb[ids], top_pieces=ctx.model.tokenizer.pieces(ids))
