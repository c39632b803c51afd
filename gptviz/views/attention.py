"""Attention views: one layer's exact pattern, the all-heads overview and the head statistics.

The overview and the statistics read exact attention rows of every layer; they share one row
computation per trace (Context.once), whichever of the two is asked for first."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.attention import pool_keys, thumbnail_rows
from ..analysis.heads import STATS, head_scores, sample_rows
from .base import Context, Result, View

THUMB = 48   # overview thumbnails: one sampled query per row bin, keys pooled to THUMB bins


@dataclass(frozen=True, eq=False)
class AttentionResult(Result):
    layer: int
    attention: np.ndarray                # (H, T, T) rows sum to 1, zero above the diagonal


@dataclass(frozen=True)
class Attention(View):
    layer: int = 0
    priority = 2

    def compute(self, ctx: Context) -> AttentionResult:
        return ctx.result(AttentionResult, self, layer=self.layer, attention=ctx.attention(self.layer))


@dataclass(frozen=True, eq=False)
class OverviewResult(Result):
    thumbnails: np.ndarray               # (L, H, t, t) rows sampled, keys pooled
    head_stats: dict                     # name -> (L, H): entropy, prev, first, induction


@dataclass(frozen=True)
class Overview(View):
    priority = 5

    def compute(self, ctx: Context) -> OverviewResult:
        thumbs, stats = overview(ctx)
        return ctx.result(OverviewResult, self, thumbnails=thumbs, head_stats=stats)


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
    t_rows, s_rows = thumbnail_rows(T, THUMB), sample_rows(T)
    rows = np.union1d(t_rows, s_rows)                     # one row computation serves both views
    t_idx, s_idx = np.searchsorted(rows, t_rows), np.searchsorted(rows, s_rows)
    thumbs, stats = [], {k: [] for k in STATS}
    for layer in range(cfg.n_layer):
        att = tr.attention_rows(layer, rows)               # (H, R, T)
        thumbs.append(pool_keys(att[:, t_idx], THUMB))
        for k, v in head_scores(att[:, s_idx], s_rows, tr.token_ids).items():
            stats[k].append(v)
    stats = {k: np.stack(v) for k, v in stats.items()}
    for v in stats.values():
        v.flags.writeable = False
    return np.stack(thumbs), stats
