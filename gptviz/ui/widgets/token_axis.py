"""A pyqtgraph axis that labels integer positions with token display forms, thinning them to fit."""
from __future__ import annotations

import math

import pyqtgraph as pg


class TokenAxis(pg.AxisItem):
    def __init__(self, orientation: str, max_chars: int = 10, **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.labels: list[str] = []
        self.max_chars = max_chars

    def set_labels(self, labels: list[str]) -> None:
        self.labels = [lab if len(lab) <= self.max_chars else lab[: self.max_chars - 1] + "…" for lab in labels]
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if not self.labels:
            return []
        minVal, maxVal = min(minVal, maxVal), max(minVal, maxVal)    # an inverted view passes them reversed
        lo, hi = max(0, math.ceil(minVal)), min(len(self.labels) - 1, math.floor(maxVal))
        if hi < lo:
            return []
        horizontal = self.orientation in ("top", "bottom")
        per_label = (7 * min(self.max_chars, 6) + 6) if horizontal else 14   # pixels a label needs
        fit = max(1, int(size / per_label))
        step = max(1, math.ceil((hi - lo + 1) / fit))
        return [(step, list(range(lo - lo % step, hi + 1, step)))]

    def tickStrings(self, values, scale, spacing):
        return [self.labels[int(v)] if 0 <= int(v) < len(self.labels) else "" for v in values]
