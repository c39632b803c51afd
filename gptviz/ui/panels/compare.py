"""Compare two prompts: the selected head's attention for A and B and their difference over the positions
they share, and both next-token distributions side by side."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QPlainTextEdit, QTableWidget, QTableWidgetItem, QWidget

from ..widgets.common import note, plot_view, stack
from .attention import CMAP

DIFF = pg.colormap.get("CET-D1")


class ComparePanel(QWidget):
    export_table = "compare"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Prompt B: compared with the main prompt (A) while this panel is visible")
        self.editor.setMaximumHeight(70)
        self.view = plot_view()
        self.imgs = {}
        for col, (key, title, cmap, levels) in enumerate((("a", "A", CMAP, (0, 1)), ("b", "B", CMAP, (0, 1)),
                                                          ("diff", "A − B", DIFF, (-1, 1)))):
            p = self.view.addPlot(row=0, col=col, title=title)
            p.invertY(True)
            p.setAspectLocked(True)
            p.setMenuEnabled(False)
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(cmap)
            img.setLevels(levels)
            p.addItem(img)
            self.imgs[key] = img
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["token", "p(A)", "p(B)", "p(A) − p(B)"])
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(170)           # the heatmaps get the room
        self.view.setMinimumHeight(220)
        self.caption = note("")
        stack(self, self.editor, self.view, self.caption, self.table, stretch=self.view)
        self.comparison = None
        self.diff = None

    def show_frame(self, frame, head: int) -> None:
        c = frame.compare
        if c is None or frame.T == 0:
            return
        self.comparison = c
        a, b = frame.attention[head], c.attention[head]
        n = min(len(a), len(b))
        self.diff = a[:n, :n] - b[:n, :n]
        self.imgs["a"].setImage(a, autoLevels=False, levels=(0, 1))
        self.imgs["b"].setImage(b, autoLevels=False, levels=(0, 1))
        self.imgs["diff"].setImage(self.diff, autoLevels=False, levels=(-1, 1))
        same = sum(1 for x, y in zip(frame.tokens, c.tokens) if x.id == y.id)
        self.caption.setText(f"layer {frame.layer}, head {head}: A has {frame.T} tokens, B {len(c.tokens)}; "
                             f"the difference covers their first {n} positions (the first {same} tokens agree).")
        self.table.setRowCount(len(c.top_ids))
        for r, (p, qa, qb) in enumerate(zip(c.top_pieces, c.probs_a, c.probs_b)):
            for col, v in enumerate((p.text, f"{qa:.4f}", f"{qb:.4f}", f"{qa - qb:+.4f}")):
                self.table.setItem(r, col, QTableWidgetItem(v))
