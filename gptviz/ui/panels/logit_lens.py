"""Logit lens: the top next-token guess read from the residual stream after each layer, per position.

Positions run down and layers across: the dock is tall and narrow, and a prompt has more positions
than a small model has layers, so cells are wide enough to carry their guess."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QWidget

from ...views import Lens
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis
from .attention import CMAP

MIN_CELL_W, MIN_CELL_H = 26, 13        # px a cell needs for its guess in the small font below
FONT_PT = 7.5
HINT = "Hover a cell for its top 5."


class LayerAxis(TokenAxis):
    """Every layer's label while columns have room for one (a few characters each), thinned only below that."""

    def positions(self, minVal, maxVal, size):
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        if self.labels and size / max(hi - lo, 1e-9) >= 22:
            return [i for i in range(len(self.labels)) if lo <= i + self.offset <= hi]
        return super().positions(minVal, maxVal, size)


def embed_note(frame) -> str:
    """What the rows are, and what the embedding row shows for this prompt."""
    top = frame.ids[0, :, 0]                                   # (P,) the embedding row's guesses
    own = int((top == frame.token_ids[frame.positions]).sum())
    return ("Each row is an input token; its cells guess the token after it. Columns: “emb” is the input embedding (token + position) read straight through the final norm "
            "and unembedding, before any block; with a tied unembedding (the token embedding matrix reused as "
            f"the output layer) it mostly predicts the input token itself – here {own} of {len(top)} cells do. "
            "Then the residual stream after each block; the last column is the model's prediction.")


class LogitLensPanel(QWidget):
    export_table = "logit_lens"
    attr, title, dock, area, place = "lens", "Logit lens", "lens", "left", ("tab", "norms")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.xaxis, self.yaxis = LayerAxis("bottom", max_chars=5, cells=True), TokenAxis("left", max_chars=8, cells=True)
        self.view = plot_view()
        self.plot = fixed_plot(self.view, axes={"bottom": self.xaxis, "left": self.yaxis}, invert_y=True)
        self.plot.setLabel("bottom", "layer")
        self.plot.setLabel("left", "input token")
        self.img = pg.ImageItem(axisOrder="row-major")
        self.img.setColorMap(CMAP)
        self.plot.addItem(self.img)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=CMAP, interactive=False, label="top-1 p", width=12)
        self.bar.setImageItem(self.img, insert_in=self.plot)
        self.font = QFont()
        self.font.setPointSizeF(FONT_PT)
        self.metrics = QFontMetricsF(self.font)
        self.texts: list[pg.TextItem] = []
        self.labelled = False                 # whether the cells carry their guess (wide enough)
        self.rows_note = note("Columns: the embedding, then the residual stream after each block, each read through "
                              "the final norm and unembedding; the last column is the model's prediction.")
        self.readout = note(HINT)
        self.view.setMinimumHeight(220)        # below this the dock scrolls rather than crushing the cells
        stack(self, self.view, self.rows_note, self.readout, stretch=self.view)
        self.result = None
        self.view.scene().sigMouseMoved.connect(self._hover)
        self.plot.vb.sigResized.connect(lambda *_: self.result is not None and self._label_cells())
        on_leave(self.view, self.clear_readout)

    def wants(self, state):
        return Lens()

    def numbers(self):
        f, toks = self.result, self.result.tokens
        return (["row", "position", "input_token_id", "input_token", *[f"top{k + 1}" for k in range(5)],
                 *[f"top{k + 1}_id" for k in range(5)], *[f"p{k + 1}" for k in range(5)]],
                [["embedding" if r == 0 else f"block {r - 1}", int(pos), toks[pos].id, toks[pos].text,
                  *f.text[r, c].tolist(), *map(int, f.ids[r, c]), *map(float, f.probs[r, c])]
                 for r in range(f.ids.shape[0]) for c, pos in enumerate(f.positions)], [prompt_comment(f)])

    def show_result(self, frame, state=None) -> None:
        old, self.result = self.result, frame
        if old is None or old.ids.shape != frame.ids.shape or \
                not np.array_equal(old.token_ids, frame.token_ids) or not np.array_equal(old.ids, frame.ids):
            self.clear_readout()
        top1 = frame.probs[:, :, 0]                          # (L+1, P)
        R, P = top1.shape
        self.img.setImage(top1.T, autoLevels=False, levels=(0, 1))    # (P, L+1): a position per row
        self.yaxis.set_labels([frame.tokens[i].text for i in frame.positions])
        self.xaxis.set_labels(["emb"] + [str(i) for i in range(R - 1)])
        self.rows_note.setText(embed_note(frame))
        self.plot.setRange(xRange=(0, R), yRange=(0, P), padding=0.01)
        self._label_cells()

    def cell_px(self) -> tuple[float, float]:
        """On-screen width and height of one cell."""
        (x0, x1), (y0, y1) = self.plot.vb.viewRange()
        return self.plot.vb.width() / max(x1 - x0, 1e-9), self.plot.vb.height() / max(y1 - y0, 1e-9)

    def cell_text(self, r: int, c: int, width_px: float) -> str:
        """The guess, elided to the cell's width."""
        return self.metrics.elidedText(str(self.result.text[r, c, 0]), Qt.ElideRight, max(width_px - 4, 0))

    def _label_cells(self) -> None:
        f = self.result
        top1 = f.probs[:, :, 0]
        R, P = top1.shape
        while len(self.texts) < R * P:
            t = pg.TextItem(anchor=(0.5, 0.5))
            t.setFont(self.font)
            self.plot.addItem(t)
            self.texts.append(t)
        w, h = self.cell_px()
        self.labelled = w >= MIN_CELL_W and h >= MIN_CELL_H     # narrower cells are read by hovering
        for n, t in enumerate(self.texts):
            if n < R * P and self.labelled:
                r, c = divmod(n, P)
                t.setText(self.cell_text(r, c, w))
                t.setColor("#111827" if top1[r, c] > 0.5 else "#f9fafb")
                t.setPos(r + 0.5, c + 0.5)                     # layer across, position down
                t.show()
            else:
                t.hide()

    def describe_cell(self, r: int, c: int) -> str:
        """Layer row r (0: the embedding) at the lens's c-th position."""
        f = self.result
        pos = int(f.positions[c])
        row = "embedding" if r == 0 else f"after block {r - 1}"
        top = ", ".join(f"{f.text[r, c, k]} {f.probs[r, c, k]:.3f}" for k in range(f.ids.shape[2]))
        return f"#{pos} {f.tokens[pos].text}, {row}: {top}"

    def clear_readout(self) -> None:
        self.readout.setText(HINT)

    def _hover(self, pos) -> None:
        if self.result is None:
            return
        if not self.plot.vb.sceneBoundingRect().contains(pos):
            self.clear_readout()
            return
        p = self.plot.vb.mapSceneToView(pos)
        r, c = int(np.floor(p.x())), int(np.floor(p.y()))             # layer, position index
        R, P = self.result.probs.shape[:2]
        if 0 <= r < R and 0 <= c < P:
            self.readout.setText(self.describe_cell(r, c))
        else:
            self.clear_readout()
