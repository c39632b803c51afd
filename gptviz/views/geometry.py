"""The embeddings' geometry: a view of the weights alone, computed once per model (seconds for a 50k
vocabulary: its distinct rows are sorted), after the views of the prompt.

Learned positions (GPT-2, GPT-Neo, OPT): the position table's norms and cosines. Rotary families add
no position vectors; positions rotate q and k instead, so the view shows the model's own rotary
frequencies (its base, scaling and partial rotary fraction) and what they do to q·k with distance."""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np

from .base import Result, View

MAX_DISTANCE = 8192     # distances drawn for a rotary model: its context, at most this many


@dataclass(frozen=True, eq=False)
class GeometryResult(Result):
    geometry: dict                       # learned: analysis.geometry.embedding_geometry; rotary: {"rotary": …,
    #                                      "shared_ids": …}; or {"error": message}


def rotary_profile(inv_freq: np.ndarray, scale: float, rotary_dim: int, head_dim: int, distances: np.ndarray) -> dict:
    """What rotary positions do, from the inverse frequencies θ_i (P,) the model rotates pair i by per position.

    score: q·k of one fixed vector q = k = (1, …, 1)/√head_dim placed `distance` positions apart (D,):
    each rotated pair contributes 2·scale²·cos(Δ·θ_i)/head_dim, each dim left unrotated (partial rotary)
    1/head_dim, so score(0) is scale²·(rotated share) + (unrotated share) and falls as the pairs dephase."""
    inv = np.asarray(inv_freq, np.float64)                                        # (P,)
    d = np.asarray(distances, np.float64)                                         # (D,)
    P = len(inv)
    rot = 2.0 * scale ** 2 * np.cos(d[:, None] * inv[None, :]).sum(axis=1)        # (D,)
    return {"inv_freq": inv, "wavelength": 2 * np.pi / inv, "distance": d.astype(np.int64),
            "score": (rot + (head_dim - 2 * P)) / head_dim, "rotary_dim": int(rotary_dim),
            "head_dim": int(head_dim), "scale": float(scale)}


@dataclass(frozen=True)
class Geometry(View):
    priority = 20
    per_prompt = False

    def compute(self, ctx) -> GeometryResult:
        from ..analysis.geometry import embedding_geometry, shared_rows
        try:
            cfg = ctx.model.config
            wte, wpe = ctx.model.embedding_tables()            # (V, d), (T, d) or None
            if wpe is not None:
                g = embedding_geometry(wte, wpe)
            elif cfg.positions == "rotary":
                rotary = getattr(ctx.model.model, "rotary", None)
                if rotary is None:
                    raise ValueError(f"this {cfg.model_type} model has no rotary parameters to show")
                inv, scale = rotary.inv_freq(cfg.block_size)   # the model's own: base, scaling, partial dim
                D = min(cfg.block_size, MAX_DISTANCE)
                prof = rotary_profile(inv.detach().double().cpu().numpy(), float(scale), cfg.rotary_dim,
                                      cfg.head_dim, np.arange(D))
                r = cfg.rope
                prof.update(rope_type=r.get("rope_type", "default"), theta=float(r.get("rope_theta", 10000.0)),
                            factor=r.get("factor"), context=int(cfg.block_size),
                            style="interleaved" if cfg.family == "gptj" else "half", model_type=cfg.model_type)
                rows, shared = shared_rows(wte)
                g = {"rotary": prof, "shared_ids": shared, "shared_count": int(len(shared)),
                     "token_norm_median": float(np.median(np.linalg.norm(rows, axis=1)))}
            else:
                raise ValueError("this model has no learned position embeddings")
        except (Exception, MemoryError) as e:
            if not isinstance(e, ValueError):
                traceback.print_exc()
            g = {"error": " ".join(str(e).split()) or type(e).__name__}
        return GeometryResult(None, self, [], np.zeros(0, np.int64), geometry=g)
