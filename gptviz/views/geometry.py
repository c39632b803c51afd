"""The embeddings' geometry: a view of the weights alone, computed once per model (seconds for a 50k
vocabulary: its distinct rows are sorted), after the views of the prompt."""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np

from .base import Result, View


@dataclass(frozen=True, eq=False)
class GeometryResult(Result):
    geometry: dict                       # analysis.geometry.embedding_geometry, or {"error": message}


@dataclass(frozen=True)
class Geometry(View):
    priority = 20
    per_prompt = False

    def compute(self, ctx) -> GeometryResult:
        from ..analysis.geometry import embedding_geometry
        try:
            wte, wpe = ctx.model.embedding_tables()            # (V, d), (T, d) or None
            if wpe is None:
                raise ValueError("this model has no learned position embeddings")
            g = embedding_geometry(wte, wpe)
        except (Exception, MemoryError) as e:
            if not isinstance(e, ValueError):
                traceback.print_exc()
            g = {"error": " ".join(str(e).split()) or type(e).__name__}
        return GeometryResult(None, self, [], np.zeros(0, np.int64), geometry=g)
