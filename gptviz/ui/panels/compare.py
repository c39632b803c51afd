"""Compare two prompts: the selected head's attention for A and B and their difference over the positions
they share, and both next-token distributions side by side."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QPlainTextEdit, QTableWidget, QTableWidgetItem, QWidget

from ..widgets.common import plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis
from .attention import CMAP

DIFF = pg.colormap.get("CET-D1")
MAPS = (("a", "A", CMAP, (0, 1)), ("b", "B", CMAP, (0, 1)), ("diff", "A − B", DIFF, (-1, 1)))
HINT = "Hover a cell: query → key, with A's, B's and their difference."


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading token ids the two prompts have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class ComparePanel(QWidget):
    export_table = "compare"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Prompt B: compared with the main prompt (A) while this panel is visible")
        self.editor.setMaximumHeight(70)
        self.view = plot_view()
        self.plots, self.imgs, self.axes = {}, {}, {}
        for col, (key, title, cmap, levels) in enumerate(MAPS):
            xa, ya = TokenAxis("bottom", max_chars=6, cells=True), TokenAxis("left", max_chars=6, cells=True)
            p = self.view.addPlot(row=0, col=col, title=title, axisItems={"bottom": xa, "left": ya})
            p.invertY(True)
            p.setAspectLocked(True)
            p.setMenuEnabled(False)
            p.setMouseEnabled(False, False)
            p.hideButtons()
            img = pg.ImageItem(axisOrder="row-major")
            img.setColorMap(cmap)
            img.setLevels(levels)
            p.addItem(img)
            self.plots[key], self.imgs[key], self.axes[key] = p, img, (xa, ya)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["token", "p(A)", "p(B)", "p(A) − p(B)"])
        self.table.verticalHeader().hide()
        self.table.setMaximumHeight(170)           # the heatmaps get the room
        self.view.setMinimumHeight(220)
        self.caption = note("")
        self.readout = note(HINT)
        stack(self, self.editor, self.view, self.caption, self.readout, self.table, stretch=self.view)
        self.comparison = None
        self.frame = None
        self.head = 0
        self.diff = None
        self.prefix = 0
        self.view.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.view, self.clear_readout)

    def show_frame(self, frame, head: int) -> None:
        c = frame.compare
        if c is None or frame.T == 0:
            return
        if self.frame is None or self.comparison is None or head != self.head \
                or not np.array_equal(frame.token_ids, self.frame.token_ids) \
                or [p.id for p in c.tokens] != [p.id for p in self.comparison.tokens]:
            self.clear_readout()
        self.frame, self.comparison, self.head = frame, c, head
        a, b = frame.attention[head], c.attention[head]
        n = min(len(a), len(b))
        self.diff = a[:n, :n] - b[:n, :n]
        self.imgs["a"].setImage(a, autoLevels=False, levels=(0, 1))
        self.imgs["b"].setImage(b, autoLevels=False, levels=(0, 1))
        self.imgs["diff"].setImage(self.diff, autoLevels=False, levels=(-1, 1))
        ta, tb = [p.text for p in frame.tokens], [p.text for p in c.tokens]
        both = [x if x == y else f"{x}|{y}" for x, y in zip(ta[:n], tb[:n])]     # the diff's rows and columns
        for key, labels in (("a", ta), ("b", tb), ("diff", both)):
            for axis in self.axes[key]:
                axis.set_labels(labels)
            self.plots[key].setRange(xRange=(0, len(labels)), yRange=(0, len(labels)), padding=0.02)
        self.prefix = common_prefix([p.id for p in frame.tokens], [p.id for p in c.tokens])
        self.caption.setText(f"layer {frame.layer}, head {head}: A has {frame.T} tokens, B {len(c.tokens)}; "
                             f"the difference covers their first {n} positions. {self._agreement(n)}")
        self.table.setRowCount(len(c.top_ids))
        for r, (p, qa, qb) in enumerate(zip(c.top_pieces, c.probs_a, c.probs_b)):
            for col, v in enumerate((p.text, f"{qa:.4f}", f"{qb:.4f}", f"{qa - qb:+.4f}")):
                self.table.setItem(r, col, QTableWidgetItem(v))

    def _agreement(self, n: int) -> str:
        k = self.prefix
        if k == 0:
            return "They differ from the first token on."
        same = f"The first {k} token{'s' if k > 1 else ''} agree"
        if k == n:
            return same + (" (the prompts are the same)." if len(self.frame.tokens) == len(self.comparison.tokens)
                           else " (one prompt starts with the other).")
        return (f"{same}, so the first {k} row{'s' if k > 1 else ''} of A − B are zero (attention is causal); "
                f"they differ from #{k} on.")

    def describe_cell(self, q: int, k: int) -> str:
        a, b = self.frame.attention[self.head], self.comparison.attention[self.head]
        ta, tb = self.frame.tokens, self.comparison.tokens
        parts = []
        if q < len(a) and k <= q:
            parts.append(f"A {ta[q].text} → {ta[k].text}: {a[q, k]:.4f}")
        if q < len(b) and k <= q:
            parts.append(f"B {tb[q].text} → {tb[k].text}: {b[q, k]:.4f}")
        if q < len(self.diff) and k <= q:
            parts.append(f"A − B: {self.diff[q, k]:+.4f}")
        return f"query #{q}, key #{k}:  " + ("   ".join(parts) if parts else "masked (key after query)")

    def clear_readout(self) -> None:
        self.readout.setText(HINT)

    def _hover(self, pos) -> None:
        if self.frame is None or self.comparison is None:
            return
        for key, p in self.plots.items():
            if p.vb.sceneBoundingRect().contains(pos):
                v = p.vb.mapSceneToView(pos)
                q, k = int(np.floor(v.y())), int(np.floor(v.x()))
                size = self.imgs[key].image.shape[0] if self.imgs[key].image is not None else 0
                if 0 <= q < size and 0 <= k < size:
                    self.readout.setText(self.describe_cell(q, k))
                    return
        self.clear_readout()
