"""Views of the residual stream: the logit lens over the last positions and each block's contribution."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Context, Result, View

LENS_POSITIONS = 24   # the logit lens covers the last this-many positions (each costs L+1 unembeddings)


@dataclass(frozen=True, eq=False)
class LensResult(Result):
    positions: np.ndarray                # (P,) positions the lens covers
    ids: np.ndarray                      # (L+1, P, 5) top guesses; -1 where there is no guess
    probs: np.ndarray                    # (L+1, P, 5)
    text: np.ndarray                     # (L+1, P, 5) display forms of ids ("" for no guess)


@dataclass(frozen=True)
class Lens(View):
    priority = 7

    def compute(self, ctx: Context) -> LensResult:
        T = ctx.trace.T
        positions = np.arange(max(0, T - LENS_POSITIONS), T)
        ids, probs = ctx.trace.logit_lens(positions)                    # (L+1, P, 5) each
        # a NaN model gives probability 0 everywhere and top-k then returns arbitrary, maybe undecodable,
        # ids: those cells are no guess at all (id -1, no text)
        ids = np.where(probs > 0, ids, -1)
        ok = ids.ravel() >= 0
        text = np.full(ids.size, "", dtype=object)
        text[ok] = [p.text for p in ctx.model.tokenizer.pieces(ids.ravel()[ok])]
        return ctx.result(LensResult, self, positions=positions, ids=ids, probs=probs,
                          text=text.reshape(ids.shape))


@dataclass(frozen=True, eq=False)
class ResidualResult(Result):
    resid_norm: np.ndarray               # (L+1, T) after the embedding and each block
    attn_norm: np.ndarray                # (L, T) what each block's attention added
    mlp_norm: np.ndarray                 # (L, T) what each block's MLP added


@dataclass(frozen=True)
class Residual(View):
    priority = 8

    def compute(self, ctx: Context) -> ResidualResult:
        r, a, m = ctx.trace.block_contributions()
        return ctx.result(ResidualResult, self, resid_norm=r, attn_norm=a, mlp_norm=m)
