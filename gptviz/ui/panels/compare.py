"""Compare two prompts: the selected head's attention for A and B and their difference over the positions
they share, and both next-token distributions side by side."""
from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QPlainTextEdit, QTableWidget, QTableWidgetItem, QWidget

from ...views import Compare
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
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
    attr, title, dock, area, place = "compare", "Compare prompts", "compare", "right", ("tab", "stats")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Prompt B: compared with the main prompt (A) while this panel is visible")
        self.editor.setMaximumHeight(70)
        self.view = plot_view()
        self.plots, self.imgs, self.axes = {}, {}, {}
        for col, (key, title, cmap, levels) in enumerate(MAPS):
            xa, ya = TokenAxis("bottom", max_chars=6, cells=True), TokenAxis("left", max_chars=6, cells=True)
            p = fixed_plot(self.view, 0, col, title, {"bottom": xa, "left": ya}, invert_y=True)
            p.setAspectLocked(True)
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
        self.comparison = self.result = None
        self.head = 0
        self.diff = None
        self.prefix = 0
        self.view.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.view, self.clear_readout)

    def wants(self, state):
        return Compare(state.compare_text, state.layer, state.temperature, state.top_k)

    def numbers(self):
        c = self.comparison
        if c is None:
            raise ValueError("no comparison yet: type a prompt B in the Compare panel")
        return (["token_id", "token", "p_A", "p_B"],
                [[int(i), p.text, float(a), float(b)] for i, p, a, b in
                 zip(c.top_ids, c.top_pieces, c.probs_a, c.probs_b)],
                [prompt_comment(c), "# prompt B: " + json.dumps(c.text_b, ensure_ascii=False)])

    def show_result(self, c, state) -> None:
        """`c`: a CompareResult (None when a prompt is empty: the last comparison stays)."""
        if c is None or c.T == 0:
            return
        head = min(state.head, c.attention_a.shape[0] - 1)
        if self.comparison is None or head != self.head or not np.array_equal(c.token_ids, self.comparison.token_ids) \
                or [p.id for p in c.tokens_b] != [p.id for p in self.comparison.tokens_b]:
            self.clear_readout()
        self.result = self.comparison = c
        self.head = head
        a, b = c.attention_a[head], c.attention_b[head]
        n = min(len(a), len(b))
        self.diff = a[:n, :n] - b[:n, :n]
        self.imgs["a"].setImage(a, autoLevels=False, levels=(0, 1))
        self.imgs["b"].setImage(b, autoLevels=False, levels=(0, 1))
        self.imgs["diff"].setImage(self.diff, autoLevels=False, levels=(-1, 1))
        ta, tb = [p.text for p in c.tokens], [p.text for p in c.tokens_b]
        both = [x if x == y else f"{x}|{y}" for x, y in zip(ta[:n], tb[:n])]     # the diff's rows and columns
        for key, labels in (("a", ta), ("b", tb), ("diff", both)):
            for axis in self.axes[key]:
                axis.set_labels(labels)
            self.plots[key].setRange(xRange=(0, len(labels)), yRange=(0, len(labels)), padding=0.02)
        self.prefix = common_prefix([p.id for p in c.tokens], [p.id for p in c.tokens_b])
        self.caption.setText(f"layer {c.layer}, head {head}: A has {c.T} tokens, B {len(c.tokens_b)}; "
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
            return same + (" (the prompts are the same)." if self.comparison.T == len(self.comparison.tokens_b)
                           else " (one prompt starts with the other).")
        return (f"{same}, so the first {k} row{'s' if k > 1 else ''} of A − B are zero (attention is causal); "
                f"they differ from #{k} on.")

    def describe_cell(self, q: int, k: int) -> str:
        c = self.comparison
        a, b = c.attention_a[self.head], c.attention_b[self.head]
        ta, tb = c.tokens, c.tokens_b
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
        if self.comparison is None:
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
