"""Per-token surprisal: −log p of each prompt token given the tokens before it, one bar per token, and on
hover what the model expected there instead."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ...views.interventions import Surprisal
from ..state import prompt_comment
from ..widgets.common import fixed_plot, plot_view, stack
from ..widgets.fit_note import FitNote as note
from ..widgets.hover import on_leave
from ..widgets.token_axis import TokenAxis

CMAP = pg.colormap.get("viridis")
HINT = "Bar height: −log p (nats) of each token given the ones before it; tall bars surprised the model. Hover a bar."
TOP = 5


class SurprisalPanel(QWidget):
    export_table = "surprisal"
    attr, title, dock, area, place = "surprisal", "Surprisal", "surprisal", "right", ("tab", "attribution")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = plot_view()
        self.axis = TokenAxis("bottom", cells=False)
        self.plot = fixed_plot(self.view, axes={"bottom": self.axis})
        self.plot.setLabel("left", "−log p (nats)")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brushes=[], pen=None)
        self.plot.addItem(self.bars)
        self.readout = note(HINT)
        stack(self, self.view, self.readout, stretch=self.view)
        self.result = None
        self.view.scene().sigMouseMoved.connect(self._hover)
        on_leave(self.view, self.clear_readout)

    def wants(self, state):
        return Surprisal(TOP)

    def numbers(self):
        f = self.result
        header = ["position", "token_id", "token", "surprisal_nats"]
        header += [c for r in range(TOP) for c in (f"expected_{r + 1}", f"p_{r + 1}")]
        rows = []
        for i in range(1, f.T):
            row = [i, f.tokens[i].id, f.tokens[i].text, float(f.surprisal[i - 1])]
            for p, q in zip(f.top_pieces[i - 1], f.top_probs[i - 1]):
                row += [p.text, float(q)]
            rows.append(row)
        return header, rows, [prompt_comment(f), "# position 0 has no prefix to be predicted from"]

    def show_result(self, frame, state=None) -> None:
        self.result = frame
        s = np.asarray(frame.surprisal, float)                     # (T-1,) for positions 1..T-1
        top = max(float(s.max()) if len(s) else 1.0, 1e-6)
        self.bars.setOpts(x=np.arange(1, frame.T), height=s, width=0.8,
                          brushes=[pg.mkBrush(CMAP.map(v / top, mode="qcolor")) for v in s])
        self.axis.set_labels([p.text for p in frame.tokens])
        self.plot.setXRange(-0.6, max(frame.T, 1) - 0.4, padding=0)
        self.plot.setYRange(0, top * 1.1, padding=0)
        self.clear_readout()

    def describe(self, i: int) -> str:
        """Position i (≥ 1): its surprisal and the model's top guesses for it."""
        f = self.result
        s = float(f.surprisal[i - 1])
        guesses = ", ".join(f"“{p.text}” {q * 100:.1f}%" for p, q in zip(f.top_pieces[i - 1], f.top_probs[i - 1]))
        return (f"#{i} “{f.tokens[i].text}”: −log p = {s:.3f} nats (p = {math.exp(-s):.4f}). "
                f"Expected: {guesses}")

    def clear_readout(self) -> None:
        self.readout.setText(HINT)

    def _hover(self, pos) -> None:
        f = self.result
        vb = self.plot.vb
        if f is None or f.T < 2 or not vb.sceneBoundingRect().contains(pos):
            self.clear_readout()
            return
        i = int(round(vb.mapSceneToView(pos).x()))
        if 1 <= i < f.T:
            self.readout.setText(self.describe(i))
        else:
            self.clear_readout()
