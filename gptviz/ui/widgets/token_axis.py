"""A pyqtgraph axis that labels token positions with their display forms, thinning them to fit.

Heatmap cells for position i span [i, i + 1], so a heatmap axis (`cells=True`) puts the tick and its
label at the cell's centre i + 0.5; curves and bars drawn at x = i use `cells=False`.
"""
from __future__ import annotations

import math

import pyqtgraph as pg


class TokenAxis(pg.AxisItem):
    def __init__(self, orientation: str, max_chars: int = 10, cells: bool = False, **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.labels: list[str] = []
        self.max_chars = max_chars
        self.offset = 0.5 if cells else 0.0    # where position i's label sits: i + offset

    def set_labels(self, labels: list[str]) -> None:
        self.labels = [lab if len(lab) <= self.max_chars else lab[: self.max_chars - 1] + "…" for lab in labels]
        self.picture = None
        self.update()

    def positions(self, minVal: float, maxVal: float, size: float) -> list[int]:
        """Token positions labelled for a view spanning [minVal, maxVal] over `size` pixels."""
        if not self.labels:
            return []
        minVal, maxVal = min(minVal, maxVal), max(minVal, maxVal)    # an inverted view passes them reversed
        lo = max(0, math.ceil(minVal - self.offset))
        hi = min(len(self.labels) - 1, math.floor(maxVal - self.offset))
        if hi < lo:
            return []
        horizontal = self.orientation in ("top", "bottom")
        per_label = (7 * min(self.max_chars, 6) + 6) if horizontal else 14   # pixels a label needs
        fit = max(1, int(size / per_label))
        step = max(1, math.ceil((hi - lo + 1) / fit))
        return [i for i in range(lo - lo % step, hi + 1, step) if i >= lo]

    def tickValues(self, minVal, maxVal, size):
        pos = self.positions(minVal, maxVal, size)
        return [(1, [i + self.offset for i in pos])] if pos else []

    def tickStrings(self, values, scale, spacing):
        out = []
        for v in values:
            i = int(round(v - self.offset))
            out.append(self.labels[i] if 0 <= i < len(self.labels) else "")
        return out
