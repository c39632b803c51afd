"""Head statistics: a sortable table of every head's entropy, previous-token, first-token and induction scores,
with the K/V head each query head reads (grouped-query attention) and each layer's attention window."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from ...views import HeadStats
from ..state import prompt_comment
from ..widgets.common import note, stack

COLUMNS = (("layer", None), ("head", None), ("K/V head", None), ("window", None), ("prev-token", "prev"), ("induction", "induction"),
           ("first-token", "first"), ("entropy (nats)", "entropy"))
# badge thresholds for the All heads grid
BADGES = (("P", "prev", 0.4), ("I", "induction", 0.3), ("S", "first", 0.6))


def badges(stats: dict[str, np.ndarray], layer: int, head: int) -> str:
    return "".join(b for b, key, thr in BADGES if np.nan_to_num(stats[key][layer, head]) > thr)


def structure(cfg, layer: int, head: int) -> tuple[int, float]:
    """(the K/V head `head` reads, `layer`'s window or NaN for full causal attention)."""
    if cfg is None or layer >= cfg.n_layer or head >= cfg.n_head:
        return head, np.nan
    w = cfg.window(layer)
    return cfg.kv_head_of(head), np.nan if w is None else float(w)


def stats_table(result, cfg=None):
    """(header, rows, comments) of every head's statistics, one row per (layer, head)."""
    stats = result.head_stats
    L, H = next(iter(stats.values())).shape
    return (["layer", "head", "kv_head", "window", *stats],
            [[i, j, *structure(cfg, i, j), *(float(v[i, j]) for v in stats.values())]
             for i in range(L) for j in range(H)], [prompt_comment(result)])


class _Num(QTableWidgetItem):
    """A cell that sorts by its number (NaN last)."""

    def __init__(self, value: float, digits: int = 3):
        super().__init__("–" if np.isnan(value) else f"{value:.{digits}f}")
        self.value = -np.inf if np.isnan(value) else float(value)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other):
        return self.value < other.value


class HeadStatsPanel(QWidget):
    export_table = "head_stats"
    attr, title, dock, area, place = "head_stats", "Head statistics", "stats", "right", ("tab", "heads")

    headClicked = Signal(int, int)
    headMenuRequested = Signal(int, int, object)   # layer, head, screen position (right-click)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c for c, _ in COLUMNS])
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, Qt.AscendingOrder)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.verticalHeader().hide()
        self.table.cellClicked.connect(self._clicked)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        legend = note("K/V head: the key/value head the query head reads (with grouped-query attention several "
                      "query heads share one); window: the layer's local attention span (– for full causal). "
                      "Over the current prompt. prev-token: attention on the previous token; induction: on tokens "
                      "that followed earlier copies of the current token; first-token: on position 0. Badges in "
                      "All heads: P prev > 0.4, I induction > 0.3, S first > 0.6.")
        stack(self, self.table, legend, stretch=self.table)
        self.stats = None
        self.result = None
        self.cfg = None

    def wants(self, state):
        return HeadStats()

    def numbers(self):
        return stats_table(self.result, self.cfg)

    def show_result(self, frame, state=None) -> None:
        self.result = frame
        cfg = getattr(getattr(state, "info", None), "config", self.cfg)
        if frame.head_stats is self.stats and cfg is self.cfg:
            return                                   # unchanged tokens: keep the user's sort and scroll
        self.stats, self.cfg = frame.head_stats, cfg
        L, H = next(iter(frame.head_stats.values())).shape
        self.table.setSortingEnabled(False)
        self.table.setRowCount(L * H)
        for r, (layer, head) in enumerate((i, j) for i in range(L) for j in range(H)):
            fixed = (layer, head, *structure(cfg, layer, head))
            for c, (_, key) in enumerate(COLUMNS):
                if key is None:
                    item = _Num(float(fixed[c]), 0)
                else:
                    item = _Num(float(frame.head_stats[key][layer, head]))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)

    def rows(self) -> list[tuple[int, int, dict[str, float]]]:
        """(layer, head, stats) in the table's current order."""
        out = []
        for r in range(self.table.rowCount()):
            layer, head = int(self.table.item(r, 0).value), int(self.table.item(r, 1).value)
            out.append((layer, head, {key: self.table.item(r, c).value for c, (_, key) in enumerate(COLUMNS) if key}))
        return out

    def _menu(self, pos) -> None:
        row = self.table.rowAt(pos.y())
        if row >= 0:
            self.headMenuRequested.emit(int(self.table.item(row, 0).value), int(self.table.item(row, 1).value),
                                        self.table.viewport().mapToGlobal(pos))

    def _clicked(self, row: int, _col: int) -> None:
        self.headClicked.emit(int(self.table.item(row, 0).value), int(self.table.item(row, 1).value))
