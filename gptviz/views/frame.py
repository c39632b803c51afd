"""What the panels display for one request: built in the worker from a trace, frozen, numpy only.

The GUI thread receives Frames and never touches torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..analysis.attention import pool_keys, thumbnail_rows
from ..analysis.heads import STATS, head_scores, sample_rows
from ..analysis.probabilities import top_k
from ..core.tokenizer import Piece

LENS_POSITIONS = 24   # the logit lens covers the last this-many positions (each costs L+1 unembeddings)
THUMB = 48   # overview thumbnails: one sampled query per row bin, keys pooled to THUMB bins


@dataclass(frozen=True)
class Request:
    id: int
    text: str
    prepend_bos: bool = False
    layer: int = 0
    temperature: float = 1.0
    top_k: int = 10
    lens: bool = False                   # compute the logit lens (its panel is visible)
    residual: bool = False               # compute residual-stream and block-contribution norms (panel visible)
    compare_text: str | None = None      # a second prompt to compare (its panel is visible)
    created: float = field(default_factory=time.perf_counter)   # when the edit that caused it happened


@dataclass(frozen=True)
class GenerateJob:
    """Sample `n` tokens after `text` in the worker; `cancel` (a threading.Event) stops it between tokens."""
    id: int
    text: str
    n: int
    temperature: float
    top_k: int
    top_p: float
    seed: int
    prepend_bos: bool
    cancel: object


@dataclass(frozen=True)
class Comparison:
    """Prompt B next to the frame's prompt A: the same layer's attention and B's next-token distribution."""
    tokens: list[Piece]
    attention: np.ndarray                # (H, T_B, T_B) of the frame's layer
    top_ids: np.ndarray                  # union of both top-k lists, by A's probability then B's
    probs_a: np.ndarray                  # A's probability of each
    probs_b: np.ndarray
    top_pieces: list[Piece]


@dataclass(frozen=True)
class Frame:
    request: Request
    tokens: list[Piece]
    token_ids: np.ndarray                # (T,)
    n_prompt_tokens: int
    truncated: bool
    block_size: int
    token_embedding_norm: np.ndarray     # (T,)
    position_embedding_norm: np.ndarray  # (T,)
    input_norm: np.ndarray               # (T,)
    layer: int
    attention: np.ndarray                # (H, T, T) of `layer`
    thumbnails: np.ndarray               # (L, H, t, t) overview of every layer's patterns (rows sampled, keys pooled)
    top_ids: np.ndarray                  # (k,)
    top_probs: np.ndarray                # (k,)
    top_pieces: list[Piece]
    head_stats: dict[str, np.ndarray]    # name -> (L, H): entropy, prev, first, induction
    warnings: list[str]
    compute_ms: float
    lens_positions: np.ndarray | None = None   # (P,) positions the lens covers
    lens_ids: np.ndarray | None = None         # (L+1, P, 5)
    lens_probs: np.ndarray | None = None       # (L+1, P, 5)
    lens_text: np.ndarray | None = None        # (L+1, P, 5) display forms of lens_ids
    resid_norm: np.ndarray | None = None       # (L+1, T) residual stream norm after embedding / each block
    attn_norm: np.ndarray | None = None        # (L, T) norm of what each block's attention added
    mlp_norm: np.ndarray | None = None         # (L, T) norm of what each block's MLP added
    compare: "Comparison | None" = None

    @property
    def T(self) -> int:
        return len(self.token_ids)


class FrameBuilder:
    """Turns requests into frames for one model, remembering the thumbnails of the last token sequence."""

    def __init__(self, model):
        self.model = model
        self._thumb_key = None
        self._thumbs = None
        self._stats = None
        self._other = model.fork()           # prompt B keeps its own prefix cache

    def build(self, req: Request) -> Frame:
        t0 = time.perf_counter()
        m = self.model
        cfg = m.config
        tr = m.trace(req.text, prepend_bos=req.prepend_bos)
        layer = min(max(0, req.layer), cfg.n_layer - 1)
        T = tr.T
        if T == 0:
            empty = np.zeros((cfg.n_head, 0, 0), np.float32)
            return Frame(req, [], tr.token_ids, 0, False, cfg.block_size, tr.token_embedding_norm,
                         tr.position_embedding_norm, tr.input_norm, layer, empty,
                         np.zeros((cfg.n_layer, cfg.n_head, 0, 0), np.float32), np.zeros(0, np.int64),
                         np.zeros(0, np.float32), [], {k: np.full((cfg.n_layer, cfg.n_head), np.nan) for k in STATS},
                         tr.warnings, (time.perf_counter() - t0) * 1e3)
        key = tr.token_ids.tobytes()
        if key != self._thumb_key:
            self._thumbs, self._stats = self._overview(tr)
            self._thumb_key = key
        att = tr.attention(layer)
        next_probs = tr.next_token_probs(req.temperature)
        ids, probs = top_k(next_probs, req.top_k)
        keep = probs > 0                     # zero-probability ids (greedy, padded vocab, NaN model) are not candidates
        ids, probs = ids[keep], probs[keep]
        extras = {}                          # optional views, computed only while their panels are visible
        if req.lens:
            positions = np.arange(max(0, T - LENS_POSITIONS), T)
            lens_ids, lens_probs = tr.logit_lens(positions)            # (L+1, P, 5) each
            # a NaN model gives probability 0 everywhere and top-k then returns arbitrary, maybe undecodable,
            # ids: those cells are no guess at all (id -1, no text)
            lens_ids = np.where(lens_probs > 0, lens_ids, -1)
            ok = lens_ids.ravel() >= 0
            text = np.full(lens_ids.size, "", dtype=object)
            text[ok] = [p.text for p in m.tokenizer.pieces(lens_ids.ravel()[ok])]
            text = text.reshape(lens_ids.shape)
            extras.update(lens_positions=positions, lens_ids=lens_ids, lens_probs=lens_probs, lens_text=text)
        if req.compare_text is not None:
            extras["compare"] = self._compare(req, next_probs, layer)
        if req.residual:
            extras["resid_norm"], extras["attn_norm"], extras["mlp_norm"] = tr.block_contributions()
        return Frame(req, tr.tokens, tr.token_ids, tr.n_prompt_tokens, tr.truncated, cfg.block_size,
                     tr.token_embedding_norm, tr.position_embedding_norm, tr.input_norm, layer, att,
                     self._thumbs, ids, probs, m.tokenizer.pieces(ids), self._stats, tr.warnings,
                     (time.perf_counter() - t0) * 1e3, **extras)

    def _overview(self, tr) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Every layer's thumbnails (L, H, t, t) and head statistics (L, H), from exact attention rows."""
        T = tr.T
        t_rows, s_rows = thumbnail_rows(T, THUMB), sample_rows(T)
        rows = np.union1d(t_rows, s_rows)                     # one row computation serves both views
        t_idx, s_idx = np.searchsorted(rows, t_rows), np.searchsorted(rows, s_rows)
        thumbs, stats = [], {k: [] for k in STATS}
        for layer in range(self.model.config.n_layer):
            att = tr.attention_rows(layer, rows)               # (H, R, T)
            thumbs.append(pool_keys(att[:, t_idx], THUMB))
            for k, v in head_scores(att[:, s_idx], s_rows, tr.token_ids).items():
                stats[k].append(v)
        return np.stack(thumbs), {k: np.stack(v) for k, v in stats.items()}

    def _compare(self, req: Request, pa: np.ndarray, layer: int) -> Comparison | None:
        """Prompt B traced with its own cache; `pa` is prompt A's next-token distribution, already computed."""
        other = self._other.trace(req.compare_text, prepend_bos=req.prepend_bos)
        if other.T == 0:
            return None
        pb = other.next_token_probs(req.temperature)
        ia, _ = top_k(pa, req.top_k)
        ib, _ = top_k(pb, req.top_k)
        ids = np.array(list(dict.fromkeys([*ia.tolist(), *ib.tolist()])), dtype=np.int64)
        return Comparison(other.tokens, other.attention(layer), ids, pa[ids], pb[ids],
                          self.model.tokenizer.pieces(ids))
