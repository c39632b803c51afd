"""A heatmap drawn from the worker's uint8 colour indices (views.image): Qt maps them through a 256-entry
colour table while it paints (pyqtgraph's Indexed8 path), so the GUI thread does no numpy per image.
The float values it shows are kept beside it for read-outs, export and tests."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ...views.image import LEVELS, MASK, NAN
from .heatmap_zoom import MASK_RGBA


def index_lut(cmap: pg.ColorMap) -> np.ndarray:
    """(256, 4) uint8: index i < LEVELS is the colour map at i / (LEVELS - 1); NAN transparent; MASK grey."""
    lut = np.zeros((256, 4), np.uint8)
    lut[:LEVELS] = cmap.getLookupTable(0.0, 1.0, LEVELS, alpha=True)
    lut[NAN] = (0, 0, 0, 0)
    lut[MASK] = MASK_RGBA
    return lut


class IndexedImage(pg.ImageItem):
    """ImageItem (row-major) of colour indices; `values` is the float matrix the colours stand for."""

    def __init__(self, cmap: pg.ColorMap, **kw):
        super().__init__(axisOrder="row-major", **kw)
        self.lut_rgba = index_lut(cmap)
        self._values = None

    def show_indices(self, index: np.ndarray, values=None) -> None:
        """Draw `index` (rows, cols) uint8; `values`: its float matrix, or a function computing it on demand."""
        self.setImage(index, autoLevels=False, levels=None, lut=self.lut_rgba)
        self._values = values

    @property
    def values(self) -> np.ndarray | None:
        if callable(self._values):
            self._values = self._values()
        return self._values

    def rgba(self) -> np.ndarray:
        """(rows, cols, 4) uint8 colours drawn for each cell (the colour table applied to the indices)."""
        return self.lut_rgba[self.image]

    def clear(self) -> None:
        super().clear()
        self._values = None
