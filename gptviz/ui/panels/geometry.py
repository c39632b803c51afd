"""Embedding geometry: why GPT adds unscaled token embeddings to learned positions, and for rotary models
what rotating q and k by position does instead (frequencies, q·k against distance)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ...views import Geometry
from ..widgets.common import plot_view, stack
from ..widgets.fit_note import FitNote as note

LINES = (("token_norm_median", "#2563eb", "median ‖token embedding‖ (GPT adds it as is)"),
         ("token_norm_scaled_median", "#7c3aed", "√d_model × that (original Transformer)"),
         ("sinusoid_norm", "#059669", "sinusoidal encoding norm √(d/2)"))


class GeometryPanel(QWidget):
    export_table = "geometry"
    attr, title, dock, area, place = "geometry", "Embedding geometry", "geometry", "left", ("tab", "lens")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = plot_view()
        self.norms = self.view.addPlot(row=0, col=0, title="‖position embedding‖ per position")
        self.norms.setLabel("bottom", "position")
        self.norms.getAxis("left").enableAutoSIPrefix(False)
        self.norms.setLogMode(y=True)           # learned norms (~0.1-1) and the sinusoids' (~10) on one scale
        self.curve = self.norms.plot([], [], pen=pg.mkPen("#f59e0b", width=2))
        self.lines = {key: self.norms.plot([], [], pen=pg.mkPen(color, width=2, style=pg.QtCore.Qt.DashLine))
                      for key, color, _ in LINES}
        # the legend gets its own row: inside the plot it covered the dashed lines it names
        self.legend = pg.LegendItem(colCount=1)
        self.view.addItem(self.legend, row=1, col=0)
        self.legend.addItem(self.curve, "learned ‖wpe[p]‖")
        for key, _, name in LINES:
            self.legend.addItem(self.lines[key], name)
        self.cos = self.view.addPlot(row=2, col=0, title="cosine(wpe[p], wpe[q])")
        for plot in (self.norms, self.cos):
            plot.titleLabel.setMinimumWidth(0)     # a title may be clipped; it must not widen the canvas past the dock
        self.cos.invertY(True)
        self.cos.setAspectLocked(True)
        self.cos.setLabel("bottom", "position")
        self.cos.setLabel("left", "position")
        self.img = pg.ImageItem(axisOrder="row-major")
        self.img.setColorMap(pg.colormap.get("CET-D1"))
        self.cos.addItem(self.img)
        self.bar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get("CET-D1"), interactive=False,
                                   label="cosine")
        self.bar.setImageItem(self.img, insert_in=self.cos)
        self.caption = note("")
        self.view.setMinimumHeight(440)        # two plots and the legend; a shorter dock scrolls instead of crushing them
        self._build_rotary()
        stack(self, self.view, self.rot_view, self.caption, stretch=self.view)
        self.rot_view.hide()
        self.geometry = None
        self.result = None

    def _build_rotary(self) -> None:
        """Rotary models: each pair's wavelength, and q·k of one vector against its copy Δ positions away."""
        self.rot_view = plot_view()
        self.waves = self.rot_view.addPlot(row=0, col=0, title="wavelength 2π/θᵢ per rotated pair")
        self.waves.setLogMode(y=True)
        self.waves.setLabel("bottom", "dimension pair i")
        self.waves.getAxis("left").enableAutoSIPrefix(False)
        self.wave_dots = self.waves.plot([], [], pen=None, symbol="o", symbolSize=5, symbolBrush="#2563eb",
                                         symbolPen=None)
        self.context_line = self.waves.plot([], [], pen=pg.mkPen("#dc2626", width=1.5, style=pg.QtCore.Qt.DashLine))
        self.score = self.rot_view.addPlot(row=1, col=0, title="q·k of one vector against distance Δ")
        self.score.setLabel("bottom", "relative distance Δ (positions)")
        self.score.setLabel("left", "q·k")
        self.score_curve = self.score.plot([], [], pen=pg.mkPen("#7c3aed", width=2))
        for plot in (self.waves, self.score):
            plot.titleLabel.setMinimumWidth(0)
        self.rot_view.setMinimumHeight(380)

    def wants(self, state):
        return Geometry()

    def show_result(self, result, state=None) -> None:
        self.result = result
        g = result.geometry
        if "position_norm" in g:
            self.set_geometry(g)
        elif "rotary" in g:
            self.set_rotary(g)
        else:                                   # no plot to draw: say why instead of showing empty axes
            self.geometry = g
            self.view.hide()
            self.rot_view.hide()
            self.caption.setText(f"No position geometry to show: {g.get('error', 'unknown reason')}.")

    def numbers(self):
        if self.geometry is None:
            raise ValueError("the embedding geometry is still being computed")
        g = self.geometry
        if "rotary" in g:
            r = g["rotary"]
            return (["distance", "qk_score"], [[int(d), float(v)] for d, v in zip(r["distance"], r["score"])],
                    ["wavelength per pair: " + " ".join(f"{w:.6g}" for w in r["wavelength"])])
        if "position_norm" not in g:
            raise ValueError(g.get("error", "no position geometry"))
        return ["position", "position_embedding_norm"], [[p, float(v)] for p, v in enumerate(g["position_norm"])], []

    def _log_ticks(self, values) -> None:
        """1-2-5 ticks over the values' range: pyqtgraph's own log ticks label every minor step here and overlap."""
        lo, hi = np.log10(max(min(values), 1e-6)), np.log10(max(max(values), 1e-6))
        ticks = [m * 10.0 ** e for e in range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
        major = [(np.log10(t), f"{t:g}") for t in ticks if lo - 0.3 <= np.log10(t) <= hi + 0.3]
        self.norms.getAxis("left").setTicks([major, []])

    def set_rotary(self, g: dict) -> None:
        self.geometry = g
        r = g["rotary"]
        self.view.hide()
        self.rot_view.show()
        P = len(r["wavelength"])
        self.wave_dots.setData(np.arange(P), r["wavelength"])
        self.context_line.setData([0, max(P - 1, 1)], [r["context"], r["context"]])
        self.waves.setXRange(0, max(P - 1, 1), padding=0.05)
        span = np.log10([r["wavelength"].min(), r["wavelength"].max(), r["context"]])   # log mode: ranges in log10
        self.waves.setYRange(span.min(), span.max(), padding=0.08)
        self.score_curve.setData(r["distance"], r["score"])
        self.score.setXRange(0, max(len(r["distance"]) - 1, 1), padding=0.02)
        longer = int((r["wavelength"] > r["context"]).sum())
        scaling = "" if r["rope_type"] == "default" else f", {r['rope_type']} scaling (factor {r['factor']:g})"
        part = ("every dimension of each head" if r["rotary_dim"] >= r["head_dim"] else
                f"the first {r['rotary_dim']} of each head's {r['head_dim']} dimensions (the rest carry no position)")
        pairs = "adjacent dims (2i, 2i+1)" if r["style"] == "interleaved" else "dims i and i + d/2"
        self.caption.setText(
            f"This {r['model_type']} model adds no position vectors: positions enter by rotating q and k in every "
            f"layer. Pair i ({pairs}) of {part} turns by θ_i = {r['theta']:g}^(−2i/{r['rotary_dim']}) radians per "
            f"position{scaling}; a score q·k then depends on the distance between the two positions, not where "
            f"they are. Top: each pair's wavelength 2π/θ_i; the red line is the context ({r['context']:,}), "
            f"which {longer} of {P} pairs never complete a turn within. Bottom: q·k of one vector with equal "
            f"entries and its copy Δ positions later (1 at Δ = 0 without scaling): the fast pairs dephase first, "
            f"so the score falls with distance.")

    def set_geometry(self, g: dict) -> None:
        self.geometry = g
        self.rot_view.hide()
        self.view.show()
        n = g["position_norm"]
        T = len(n)
        self.curve.setData(np.arange(T), n)
        for key, line in self.lines.items():
            line.setData([0, T - 1], [g[key], g[key]])
        self.img.setImage(g["position_cosine"], autoLevels=False, levels=(-1, 1))
        self.cos.setRange(xRange=(0, T), yRange=(0, T), padding=0.02)
        self.norms.setXRange(0, max(T - 1, 1), padding=0.02)
        self._log_ticks([n.min(), n.max()] + [g[key] for key, _, _ in LINES])
        tok, pos = g["token_norm_median"], float(np.median(n))
        shared = g.get("shared_count", 0)
        rows = g.get("unique_rows")
        over = f" (over its {rows:,} distinct token rows)" if rows else ""
        excluded = (f" {shared:,} ids share {'one row' if g.get('shared_row_groups', 1) == 1 else 'rows'} "
                    f"exactly (ids training left untouched) and are excluded: their row counts once."
                    if shared else "")
        self.caption.setText(
            f"Median norms in this model{over}: token embedding {tok:.2f}, position embedding {pos:.2f} "
            f"(ratio {tok / max(pos, 1e-12):.1f}×).{excluded} GPT adds the two unscaled and lets training set "
            f"their relative size. The original Transformer multiplied token embeddings by √d_model "
            f"(→ {g['token_norm_scaled_median']:.1f}) so that its fixed sinusoids, of norm "
            f"{g['sinusoid_norm']:.1f}, would not swamp them.")
