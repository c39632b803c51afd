"""Views that ask "why" (numpy out, no Qt): direct logit attribution, per-token surprisal, the change an
ablation makes to the next-token distribution, and activation patching between prompts A and B.

Each request is a frozen dataclass (its fields are the memo key, with the prompt); compute(ctx) runs in
the worker. Patching is long (one model run per cell): its compute takes progress(done, total) and
cancelled() callbacks, checked between runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..core.tokenizer import Piece
from .base import Context, Result, View

if TYPE_CHECKING:                 # both import torch: imported where computed, so the GUI starts without it
    from ..core.interventions import Ablation


@dataclass(frozen=True, eq=False)
class AttributionResult(Result):
    token: int                           # the explained next token (the top one when the request left it open)
    minus: int | None
    position: int
    logit: float                         # logits[position, token] (- logits[position, minus])
    embed: float
    heads: np.ndarray                    # (L, H)
    attn_bias: np.ndarray                # (L,)
    mlps: np.ndarray                     # (L,)
    bias: float                          # final-norm bias + unembedding bias
    norm_scale: float                    # the final norm's frozen scale
    token_piece: Piece
    refused: str | None = None           # why there is no decomposition (post-LN); then every part is 0

    @property
    def total(self) -> float:
        return float(self.embed + self.heads.sum() + self.attn_bias.sum() + self.mlps.sum() + self.bias)


@dataclass(frozen=True)
class Attribution(View):
    """token None: the most likely next token; minus: explain the logit difference token - minus."""
    token: int | None = None
    minus: int | None = None
    position: int = -1
    priority = 30

    def compute(self, ctx: Context) -> AttributionResult | None:
        tr = ctx.trace
        if tr.T == 0:
            return None
        tok = int(np.argmax(tr.next_token_probs())) if self.token is None else int(self.token)
        L, H = tr._cfg.n_layer, tr._cfg.n_head
        try:
            a = tr.logit_attribution(tok, self.position, self.minus)
        except ValueError as e:                       # post-LN: say why, show nothing misleading
            z = np.zeros(L, np.float32)
            return ctx.result(AttributionResult, self, token=tok, minus=self.minus, position=self.position % tr.T,
                              logit=float(tr.logits([self.position % tr.T])[0, tok]), embed=0.0,
                              heads=np.zeros((L, H), np.float32), attn_bias=z, mlps=z.copy(), bias=0.0,
                              norm_scale=1.0, token_piece=ctx.model.tokenizer.piece(tok), refused=str(e))
        return ctx.result(AttributionResult, self, token=a.token, minus=a.minus, position=a.position, logit=a.logit,
                          embed=a.embed, heads=a.heads, attn_bias=a.attn_bias, mlps=a.mlps, bias=a.bias,
                          norm_scale=a.norm_scale, token_piece=ctx.model.tokenizer.piece(a.token))


@dataclass(frozen=True, eq=False)
class SurprisalResult(Result):
    surprisal: np.ndarray                # (T-1,) -log p (nats) of token i+1 given tokens ..i
    top_ids: np.ndarray                  # (T-1, k) what the model expected for token i+1
    top_probs: np.ndarray                # (T-1, k)
    top_pieces: list[list[Piece]]


@dataclass(frozen=True)
class Surprisal(View):
    k: int = 5
    priority = 20

    def compute(self, ctx: Context) -> SurprisalResult:
        s, ids, probs = ctx.trace.surprisal(self.k)
        tok = ctx.model.tokenizer
        return ctx.result(SurprisalResult, self, surprisal=s, top_ids=ids, top_probs=probs,
                          top_pieces=[[tok.piece(int(i)) for i in row] for row in ids])


@dataclass(frozen=True, eq=False)
class AblationDeltaResult(Result):
    ablation: Ablation
    ids: np.ndarray                      # (K,) union of the clean and the ablated top-k, by clean probability
    logp_clean: np.ndarray               # (K,) log-probabilities at the last position
    logp_ablated: np.ndarray             # (K,)
    pieces: list[Piece]

    @property
    def delta(self) -> np.ndarray:
        """(K,) ablated - clean log-probability of each candidate."""
        return self.logp_ablated - self.logp_clean


@dataclass(frozen=True)
class AblationDelta(View):
    """The next-token change an ablation makes (the clean and the ablated pass each keep their cache)."""
    heads: tuple[tuple[int, int], ...] = ()
    mlps: tuple[int, ...] = ()
    mode: str = "zero"
    top_k: int = 10
    priority = 25

    def compute(self, ctx: Context) -> AblationDeltaResult | None:
        ids = ctx.trace.token_ids
        if not len(ids):
            return None
        m = ctx.model
        from ..core.interventions import Ablation
        ab = Ablation.of(m.config, self.heads, self.mlps, self.mode)
        out = []
        for tr in (m.trace_ids(ids), m.trace_ids(ids, ablate=ab.heads, ablate_mlp=ab.mlps, mode=ab.mode)):
            logits = tr.logits([tr.T - 1])[0].astype(np.float64)                  # (V,)
            logits[~tr.decodable_mask()] = -np.inf
            out.append(logits - (logits.max() + np.log(np.exp(logits - logits.max()).sum())))
        clean, abl = out
        order = [int(i) for i in np.argsort(-clean)[:self.top_k]]
        order += [int(i) for i in np.argsort(-abl)[:self.top_k] if int(i) not in order]
        sel = np.array(order, np.int64)
        return ctx.result(AblationDeltaResult, self, ablation=ab, ids=sel, logp_clean=clean[sel].astype(np.float32),
                          logp_ablated=abl[sel].astype(np.float32), pieces=[m.tokenizer.piece(i) for i in order])


@dataclass(frozen=True, eq=False)
class PatchingResult(Result):
    tokens_b: list[Piece]
    resid: np.ndarray | None             # (L+1, T) metric with resid (l, p) from B; NaN where not run
    heads: np.ndarray | None             # (L, H) metric with head (l, h)'s output from B
    base: float                          # the metric on A
    source: float                        # the metric on B
    cancelled: bool
    done: int
    total: int


@dataclass(frozen=True)
class Patching(View):
    """Patch prompt B into the context's prompt A; metric: logit(token) - logit(minus) at A's last position."""
    text_b: str = ""
    token: int = 0
    minus: int | None = None
    resid: bool = True
    heads: bool = True
    priority = 90

    def compute(self, ctx: Context, progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> PatchingResult:
        ids_b, _ = ctx.model.encode(self.text_b, ctx.prompt.prepend_bos)
        from ..core.patching import patch_sweep
        r = patch_sweep(ctx.model, ctx.trace.token_ids, ids_b, self.token, self.minus, self.resid, self.heads,
                        progress, cancelled)
        return ctx.result(PatchingResult, self, tokens_b=ctx.model.tokenizer.pieces(np.asarray(ids_b)),
                          resid=None if r.resid is None else r.resid.astype(np.float32),
                          heads=None if r.heads is None else r.heads.astype(np.float32), base=r.base,
                          source=r.source, cancelled=r.cancelled, done=r.done, total=r.total)
