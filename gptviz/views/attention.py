"""Attention views: one layer's exact pattern, the all-heads overview and the head statistics.

The overview and the statistics read exact attention rows of every layer; they share one row
computation per trace (Context.once), whichever of the two is asked for first."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.attention import bin_edges, pool_keys
from ..analysis.heads import STATS, head_scores, sample_rows
from ..analysis.masks import hidden
from .base import Context, Result, View
from .image import MASK, NAN, HeadImages, causal_hidden, quantise

THUMB = 48   # overview thumbnails: one sampled query per row bin, keys pooled to THUMB bins
# query rows the overview reads per layer (statistics and thumbnails share them): its cost is
# L x STAT_ROWS / T of one layer's full pattern, 1.5 layers' worth for GPT-2 small at 512 tokens
STAT_ROWS = 64


@dataclass(frozen=True, eq=False)
class AttentionResult(Result):
    layer: int
    attention: np.ndarray                # (H, T, T) rows sum to 1, zero above the diagonal
    image: HeadImages                    # [h] (T, T) uint8 colour indices (views.image), p in 0..1, mask baked in

    def nbytes(self) -> int:
        return super().nbytes() + self.image.nbytes


@dataclass(frozen=True, eq=False)
class PooledAttentionResult(Result):
    """A window of one layer's pattern, max-pooled to at most `bins` cells a side (exact cells when the
    window is that small). Cell (i, j) covers queries q_edges[i]..q_edges[i+1]-1 and keys k_edges[j]..;
    NaN where the causal mask hides every cell of the bin."""
    layer: int
    pooled: np.ndarray                   # (H, nq, nk) float32
    q_edges: np.ndarray                  # (nq + 1,) absolute query positions
    k_edges: np.ndarray                  # (nk + 1,)
    image: HeadImages                    # [h] (nq, nk) uint8 colour indices: MASK where NaN or before the window

    def nbytes(self) -> int:
        return super().nbytes() + self.image.nbytes

    @property
    def exact(self) -> bool:
        return bool((np.diff(self.q_edges) == 1).all() and (np.diff(self.k_edges) == 1).all())


@dataclass(frozen=True)
class Attention(View):
    """One layer's pattern: exact (H, T, T) up to EXACT_MAX tokens, above that pooled to POOL_BINS a side
    (never T x T x heads in memory); AttentionWindow then gives the exact cells of a zoomed-in region.
    `head`: the head on screen, colour-indexed before the result leaves the worker (the others when first
    shown); not part of the memo key, so a head switch reuses the layer's result."""
    layer: int = 0
    head: int = field(default=0, compare=False)
    priority = 2
    # an exact pattern is 12.6 MB to keep and ~11 ms to compute again into the memory of one let go
    # (views.buffers) at 512 tokens: the last few layers seen stay, older ones give their memory back
    memo_max = 6

    def compute(self, ctx: Context):
        T = ctx.trace.T
        if T <= EXACT_MAX:
            att = ctx.attention(self.layer)
            image = HeadImages(att, 0.0, 1.0, causal_hidden(T, layer_window(ctx, self.layer)))
            shown(image, self.head)
            return ctx.result(AttentionResult, self, layer=self.layer, attention=att, image=image)
        pooled, qe, ke = pooled_pattern(ctx.trace, self.layer, 0, T, 0, T, POOL_BINS)
        return ctx.result(PooledAttentionResult, self, layer=self.layer, pooled=pooled, q_edges=qe, k_edges=ke,
                          image=pooled_image(pooled, qe, ke, layer_window(ctx, self.layer), self.head))


@dataclass(frozen=True)
class AttentionWindow(View):
    """Queries q0..q1-1 x keys k0..k1-1 of one layer: exact when both extents are <= POOL_BINS."""
    layer: int = 0
    q0: int = 0
    q1: int = 0
    k0: int = 0
    k1: int = 0
    head: int = field(default=0, compare=False)      # as Attention.head
    priority = 4

    def compute(self, ctx: Context) -> PooledAttentionResult:
        T = ctx.trace.T
        q0, q1 = max(0, min(self.q0, T)), max(0, min(self.q1, T))
        k0, k1 = max(0, min(self.k0, T)), max(0, min(self.k1, T))
        pooled, qe, ke = pooled_pattern(ctx.trace, self.layer, q0, max(q1, q0), k0, max(k1, k0), POOL_BINS)
        return ctx.result(PooledAttentionResult, self, layer=self.layer, pooled=pooled, q_edges=qe, k_edges=ke,
                          image=pooled_image(pooled, qe, ke, layer_window(ctx, self.layer), self.head))


def shown(image: HeadImages, head: int) -> None:
    """Colour-index the head on screen now, in the worker (a head the layer lacks: none)."""
    if 0 <= head < len(image):
        image[head]


def layer_window(ctx: Context, layer: int) -> int | None:
    """The layer's attention window (local / sliding-window layers), None for full causal attention."""
    cfg = ctx.model.config
    return cfg.window(layer) if layer < cfg.n_layer else None


def before_window(qe: np.ndarray, ke: np.ndarray, window: int | None) -> np.ndarray | None:
    """(nq, nk) True where even a block's first query sees none of its keys (all before the window)."""
    if window is None:
        return None
    return ke[1:][None, :] - 1 <= qe[:-1][:, None] - window


def pooled_image(pooled: np.ndarray, qe: np.ndarray, ke: np.ndarray, window: int | None,
                 head: int = 0) -> HeadImages:
    """[h] (nq, nk) colour indices of pooled blocks: the causal mask's NaN blocks (every cell of the block
    in the future) and the blocks before a local layer's window in the mask grey; `head` indexed now."""
    image = HeadImages(pooled, 0.0, 1.0, before_window(qe, ke, window), nan=MASK)
    shown(image, head)
    return image


EXACT_MAX = 1024      # longest prompt whose whole (H, T, T) pattern a result holds
POOL_BINS = 768       # cells a side of a pooled pattern: about the heatmap's size on screen
# attention rows per step: (H, rows, T) stays under ~4 MiB, and each numpy pooling call, which holds the GIL,
# stays around a millisecond (larger blocks stalled the GUI thread 100-240 ms at 8,192 tokens)
BLOCK_ELEMENTS = 1 << 20


def pooled_pattern(tr, layer: int, q0: int, q1: int, k0: int, k1: int, bins: int):
    """Max-pool queries q0..q1-1 x keys k0..k1-1 of `layer` to at most bins x bins cells, reading exact
    attention rows a block at a time. Returns (pooled (H, nq, nk) float32, q_edges, k_edges)."""
    qe = np.unique(bin_edges(q1 - q0, min(bins, q1 - q0)) + q0) if q1 > q0 else np.array([q0])
    ke = np.unique(bin_edges(k1 - k0, min(bins, k1 - k0)) + k0) if k1 > k0 else np.array([k0])
    nq, nk = len(qe) - 1, len(ke) - 1
    out = None if nq else np.zeros((tr.attention_rows(layer, np.zeros(0, np.int64)).shape[0], 0, nk), np.float32)
    step = max(1, BLOCK_ELEMENTS // max(1, 16 * tr.T))      # rows per step, at most ~16 heads' worth
    b = 0
    while b < nq:
        e = b + 1                                             # whole row bins per step
        while e < nq and qe[e + 1] - qe[b] <= step:
            e += 1
        rows = np.arange(qe[b], qe[e])
        att = tr.attention_rows(layer, rows)[:, :, k0:k1]     # (H, R, nk_cells)
        if out is None:
            out = np.empty((att.shape[0], nq, nk), np.float32)
        if nk:
            att = np.maximum.reduceat(att, ke[:-1] - k0, axis=2)              # (H, R, nk)
            out[:, b:e] = np.maximum.reduceat(att, qe[b:e] - qe[b], axis=1)   # (H, e - b, nk)
        b = e
    # a bin is masked when its first key comes after its last query (causal: key <= query)
    hidden = ke[:-1][None, :] > (qe[1:] - 1)[:, None]                         # (nq, nk)
    out[:, hidden] = np.nan
    return out, qe, ke


@dataclass(frozen=True, eq=False)
class OverviewResult(Result):
    thumbnails: np.ndarray               # (L, H, t, t) rows sampled, keys pooled
    head_stats: dict                     # name -> (L, H): entropy, prev, first, induction
    mosaic: np.ndarray                   # (L*(t+gap)-gap, H*(t+gap)-gap) uint8 colour indices, see mosaic()
    masks: np.ndarray                    # (L, t, t) True where a thumbnail cell is hidden


@dataclass(frozen=True)
class Overview(View):
    priority = 5

    def compute(self, ctx: Context) -> OverviewResult:
        thumbs, stats = overview(ctx)
        L, _, t, _ = thumbs.shape
        masks = thumbnail_masks(ctx.trace.T, t, [layer_window(ctx, i) for i in range(L)])
        return ctx.result(OverviewResult, self, thumbnails=thumbs, head_stats=stats, mosaic=mosaic(thumbs, masks),
                          masks=masks)


@dataclass(frozen=True, eq=False)
class HeadStatsResult(Result):
    head_stats: dict                     # name -> (L, H)


@dataclass(frozen=True)
class HeadStats(View):
    priority = 6

    def compute(self, ctx: Context) -> HeadStatsResult:
        return ctx.result(HeadStatsResult, self, head_stats=overview(ctx)[1])


def overview(ctx: Context) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return ctx.once("overview", lambda: _overview(ctx.trace, ctx.model.config))


def _overview(tr, cfg) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every layer's thumbnails (L, H, t, t) and head statistics (L, H), from exact attention rows."""
    T = tr.T
    if T == 0:
        return (np.zeros((cfg.n_layer, cfg.n_head, 0, 0), np.float32),
                {k: np.full((cfg.n_layer, cfg.n_head), np.nan) for k in STATS})
    rows = sample_rows(T, STAT_ROWS)                      # (R,) evenly spread, the last included
    t_idx = thumbnail_index(rows, T, THUMB)               # (t,) one of them per thumbnail row bin
    thumbs, stats = [], {k: [] for k in STATS}
    for layer in range(cfg.n_layer):
        att = tr.attention_rows(layer, rows)               # (H, R, T)
        thumbs.append(pool_keys(att[:, t_idx], THUMB))
        for k, v in head_scores(att, rows, tr.token_ids).items():
            stats[k].append(v)
    stats = {k: np.stack(v) for k, v in stats.items()}
    for v in stats.values():
        v.flags.writeable = False
    return np.stack(thumbs), stats


def thumbnail_index(rows: np.ndarray, T: int, size: int) -> np.ndarray:
    """Index into the sampled `rows` of the query shown in each of `size` row bins: the last sampled row
    inside the bin (every row when T <= size). STAT_ROWS > THUMB samples leave no bin empty."""
    if T <= size:
        return np.arange(len(rows))
    ends = bin_edges(T, size)[1:] - 1                        # (size,) each bin's last position
    return np.searchsorted(rows, ends, side="right") - 1


def gap_of(t: int) -> int:
    """Space between two thumbnails of t cells."""
    return max(1, t // 6)


def mosaic(thumbs: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Every head's thumbnail in one (layer rows x head columns) image of colour indices: each tile scaled to
    its own maximum, hidden cells MASK, the gaps between tiles NAN (transparent)."""
    L, H, t, _ = thumbs.shape
    if not thumbs.size:
        return np.zeros((0, 0), np.uint8)
    gap = gap_of(t)
    size = t + gap
    th = np.nan_to_num(thumbs)                                              # a NaN model draws as zeros
    norm = th / np.maximum(th.max(axis=(2, 3), keepdims=True), 1e-9)        # (L, H, t, t) in [0, 1]
    tiles = quantise(norm, 0.0, 1.0)
    tiles[np.broadcast_to(masks[:, None], tiles.shape)] = MASK
    out = np.full((L, size, H, size), NAN, np.uint8)
    out[:, :t, :, :t] = tiles.transpose(0, 2, 1, 3)                          # (L, t, H, t)
    return out.reshape(L * size, H * size)[: L * size - gap, : H * size - gap]


def thumbnail_masks(T: int, t: int, windows: list) -> np.ndarray:
    """(L, t, t) True where a thumbnail cell is hidden: every key of its bin is in the future of the
    cell's sampled query, or before the layer's window. The overview samples queries and pools keys
    exactly so (sample_rows, thumbnail_index, bin_edges)."""
    if not t:
        return np.zeros((len(windows), 0, 0), bool)
    rows = sample_rows(T, STAT_ROWS)
    q = rows[thumbnail_index(rows, T, THUMB)]                               # (t,) the query of each tile row
    ke = np.arange(T + 1) if T <= THUMB else bin_edges(T, THUMB)            # (t + 1,) key bin edges
    cache: dict = {}
    out = np.empty((len(windows), t, t), bool)
    for i, w in enumerate(windows):
        if w not in cache:
            cache[w] = hidden(q, ke[:-1], ke[1:], w)
        out[i] = cache[w]
    return out
