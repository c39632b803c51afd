"""The Norms plot's view range: every position in x with 2 % padding, 0 to 1.55 × the largest norm in y
(the top third left for the legend), on a short prompt and on one longer than the plot has pixels."""
import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from gptviz.ui.panels.norms import NormsPanel
from gptviz.views import Norms, Prompt
from gptviz.views.prompt_views import NormsResult
from gptviz.core.tokenizer import Piece


def frame(T, seed):
    rng = np.random.default_rng(seed)
    tok, pos, inp = rng.gamma(2.0, 1.5, (3, T)).astype(np.float32)        # (T,) each
    pieces = [Piece(int(i), f"t{i}", f"t{i}".encode()) for i in rng.integers(0, 500, T)]
    return NormsResult(Prompt("x"), Norms(), pieces, np.array([p.id for p in pieces]), tok, pos, inp)


@pytest.mark.parametrize("T", [12, 3000])
def test_range_covers_every_position_and_leaves_room_for_the_legend(qtbot, T):
    panel = NormsPanel()
    qtbot.addWidget(panel)
    panel.resize(500, 300)
    panel.show()
    for seed in (1, 2):                    # a second prompt moves the range from the first one's
        f = frame(T + seed, seed)
        panel.show_result(f)
        QApplication.processEvents()
        (x0, x1), (y0, y1) = panel.plot.getPlotItem().vb.viewRange()
        span = f.T                          # positions -0.5 .. T - 0.5
        assert x0 == pytest.approx(-0.5 - 0.02 * span) and x1 == pytest.approx(f.T - 0.5 + 0.02 * span)
        top = max(f.token_embedding_norm.max(), f.position_embedding_norm.max(), f.input_norm.max())
        assert y0 == pytest.approx(0) and y1 == pytest.approx(1.55 * float(top), rel=1e-6)
        xs, ys = panel.curves["input_norm"].getData()
        assert len(xs) > 0 and np.all(np.isin(ys, f.input_norm))     # drawn from this prompt's norms
