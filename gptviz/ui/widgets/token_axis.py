"""A pyqtgraph axis that labels token positions with their display forms, thinning them to fit.

Heatmap cells for position i span [i, i + 1], so a heatmap axis (`cells=True`) puts the tick and its
label at the cell's centre i + 0.5; curves and bars drawn at x = i use `cells=False`.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

_WIDTHS: dict[tuple[str, str], float] = {}   # (font key, label) -> px: thousands of labels per prompt, measured once


def label_width(fm: QFontMetricsF, key: str, text: str) -> float:
    w = _WIDTHS.get((key, text))
    if w is None:
        if len(_WIDTHS) > 200_000:
            _WIDTHS.clear()
        w = _WIDTHS[(key, text)] = fm.horizontalAdvance(text)
    return w


class TokenAxis(pg.AxisItem):
    def __init__(self, orientation: str, max_chars: int = 10, cells: bool = False, **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)
        self.labels: list[str] = []
        self.max_chars = max_chars
        self.offset = 0.5 if cells else 0.0    # where position i's label sits: i + offset
        self._label_px = 14.0                  # pixels the widest label needs along the axis, with a gap
        self._widest = 0.0                     # px of the widest label

    def set_labels(self, labels: list[str]) -> None:
        m = self.max_chars
        labels = [lab if len(lab) <= m else lab[: m - 1] + "…" for lab in labels]
        if labels == self.labels:
            return                             # same prompt again (another layer, a memoised result)
        self.labels = labels
        font = self.style["tickFont"] or self.font()
        fm, key = QFontMetricsF(font), font.key()
        self._widest = max((label_width(fm, key, lab) for lab in set(labels)), default=0.0)
        # horizontal: the widest label decides the spacing, so no two drawn labels overlap
        self._label_px = self._widest + 8 if self.orientation in ("top", "bottom") else fm.height() + 2
        self.picture = None
        self.update()

    def fit_width(self) -> int:
        """Pixels a vertical axis needs for its widest label, its ticks and its title, as pyqtgraph counts."""
        w = self._widest
        w += self.style["tickTextOffset"][0] + max(0, self.style["tickLength"])
        if self.label.isVisible():
            w += self.label.boundingRect().height() * 0.8
        return math.ceil(w) + 2

    def positions(self, minVal: float, maxVal: float, size: float) -> list[int]:
        """Token positions labelled for a view spanning [minVal, maxVal] over `size` pixels."""
        if not self.labels:
            return []
        minVal, maxVal = min(minVal, maxVal), max(minVal, maxVal)    # an inverted view passes them reversed
        lo = max(0, math.ceil(minVal - self.offset))
        hi = min(len(self.labels) - 1, math.floor(maxVal - self.offset))
        if hi < lo:
            return []
        # pixels per position over the whole view (an aspect-locked or padded view spans more than the
        # labelled positions, so dividing `size` by the label count would overlap the labels)
        per_pos = size / max(maxVal - minVal, 1e-9)
        step = max(1, math.ceil(self._label_px / per_pos))
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
