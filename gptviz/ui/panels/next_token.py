"""Next-token probabilities: top-k bar chart after softmax with temperature."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from ..widgets.common import note, stack
from ..widgets.token_axis import TokenAxis


def _spin(cls, lo, hi, value, step=None, tip=""):
    w = cls()
    w.setRange(lo, hi)
    if step is not None:
        w.setSingleStep(step)
    w.setValue(value)
    w.setToolTip(tip)
    return w


class NextTokenPanel(QWidget):
    export_table = "next_token"

    settingsChanged = Signal(float, int)     # temperature, k
    candidateClicked = Signal(int)           # rank of the bar clicked
    generateRequested = Signal(int, int, float, int)   # n, sampling top-k, top-p, seed
    stopRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("softmax(logits / T); 0 is greedy")
        self.k = QSpinBox()
        self.k.setRange(1, 50)
        self.k.setValue(10)
        self.temperature.valueChanged.connect(self._changed)
        self.k.valueChanged.connect(self._changed)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("temperature"))
        controls.addWidget(self.temperature)
        controls.addWidget(QLabel("top-k"))
        controls.addWidget(self.k)
        controls.addStretch(1)
        self.n = _spin(QSpinBox, 1, 1000, 20, tip="tokens to generate")
        self.sample_k = _spin(QSpinBox, 0, 50257, 40, tip="sample only among the k most probable (0: all)")
        self.top_p = _spin(QDoubleSpinBox, 0.05, 1.0, 0.95, 0.05, "nucleus: smallest set holding this much mass")
        self.seed = _spin(QSpinBox, 0, 2**31 - 1, 0, tip="random seed: the same seed gives the same text")
        self.generate = QPushButton("Generate")
        self.generate.clicked.connect(self._generate_clicked)
        gen = QHBoxLayout()
        for label, w in (("n", self.n), ("top-k", self.sample_k), ("top-p", self.top_p), ("seed", self.seed)):
            gen.addWidget(QLabel(label))
            gen.addWidget(w)
        gen.addWidget(self.generate)
        gen.addStretch(1)

        self.axis = TokenAxis("left", max_chars=14)
        self.plot = pg.PlotWidget(axisItems={"left": self.axis})
        self.plot.setBackground("w")
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "probability")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#6366f1", pen=None)
        self.plot.addItem(self.bars)
        self.texts: list[pg.TextItem] = []
        self.caption = note("")
        stack(self, controls, self.plot, self.caption, gen, stretch=self.plot)
        self.frame = None
        self.plot.scene().sigMouseClicked.connect(self._bar_clicked)

    def _changed(self, *_):
        self.settingsChanged.emit(self.temperature.value(), self.k.value())

    def show_frame(self, frame) -> None:
        self.frame = frame
        k = len(frame.top_ids)
        y = np.arange(k)
        probs = frame.top_probs.astype(float)
        self.bars.setOpts(x0=np.zeros(k), y=y, width=probs, height=0.7)
        self.axis.set_labels([p.text for p in frame.top_pieces])
        while len(self.texts) < k:
            t = pg.TextItem(color="#111827", anchor=(0, 0.5))
            self.plot.addItem(t)
            self.texts.append(t)
        for i, t in enumerate(self.texts):
            if i < k:
                t.setText(f"{probs[i] * 100:.1f}%  [{int(frame.top_ids[i])}]")
                t.setPos(probs[i], i)
                t.show()
            else:
                t.hide()
        xmax = float(probs.max()) if k else 1.0
        self.plot.setXRange(0, max(xmax * 1.35, 0.05), padding=0)
        self.plot.setYRange(-0.6, max(k, 1) - 0.4, padding=0)
        if frame.T:
            last = frame.tokens[-1].text
            self.caption.setText(f"after “{last}” (position {frame.T - 1}), T = {frame.request.temperature:g}: "
                                 f"top {k} hold {probs.sum() * 100:.1f}% of the mass. Click a bar to append it.")
        else:
            self.caption.setText("Type a prompt to see the next-token distribution.")

    def set_generating(self, on: bool) -> None:
        self.generate.setText("Stop" if on else "Generate")

    def _generate_clicked(self) -> None:
        if self.generate.text() == "Stop":
            self.stopRequested.emit()
        else:
            self.generateRequested.emit(self.n.value(), self.sample_k.value(), self.top_p.value(), self.seed.value())

    def _bar_clicked(self, ev) -> None:
        if self.frame is None or not len(self.frame.top_ids):
            return
        p = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        rank = int(round(p.y()))
        if 0 <= rank < len(self.frame.top_ids) and p.x() >= 0:
            self.candidateClicked.emit(rank)

    def rows(self) -> list[tuple[str, float]]:
        """(display form, probability) as shown, best first."""
        f = self.frame
        return [] if f is None else [(p.text, float(q)) for p, q in zip(f.top_pieces, f.top_probs)]
