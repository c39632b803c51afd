"""Long prompts in the window: the heatmap's pooled overview and its exact cells when zoomed in, the token
strip drawing only the chips in view, and the norms curve keeping each pixel's min and max."""
import numpy as np
import pytest

import gptviz
from gptviz.core.tokenizer import Piece
from gptviz.views import attention as va
from gptviz.ui.widgets.heatmap_zoom import MASK_RGBA

MASK = np.array(MASK_RGBA, np.uint8)

from .conftest import settle

TEXT = "one two three two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"


def _max_pool(m, q_edges, k_edges):
    """(nq, nk) block maxima of a (T, T) pattern; NaN for blocks wholly above the diagonal."""
    out = np.full((len(q_edges) - 1, len(k_edges) - 1), np.nan, np.float32)
    for i in range(len(q_edges) - 1):
        for j in range(len(k_edges) - 1):
            if k_edges[j] <= q_edges[i + 1] - 1:
                out[i, j] = m[q_edges[i]:q_edges[i + 1], k_edges[j]:k_edges[j + 1]].max()
    return out


def test_heatmap_pools_a_long_prompt_and_zooms_to_exact_cells(qtbot, window, hf_folder, monkeypatch):
    monkeypatch.setattr(va, "EXACT_MAX", 8)          # the worker reads these when it computes
    monkeypatch.setattr(va, "POOL_BINS", 6)
    a = window.attention
    a.select(1, 2)
    window.editor.setPlainText(TEXT)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("attention") is not None, timeout=60000)
    ref = gptviz.load(str(hf_folder)).trace(TEXT).attention(1)[2]        # (T, T) a fresh trace
    T = len(ref)
    edges = np.linspace(0, T, 7).round().astype(int)
    assert a.pooled and T > 8
    want = _max_pool(ref, edges, edges)
    np.testing.assert_allclose(a.img.values, want, atol=1e-5)
    np.testing.assert_array_equal((a.img.rgba() == MASK).all(-1), np.isnan(want))   # blocks all in the future: grey
    assert not a.zoom_img.isVisible()
    traces = window.client._worker.traces
    a.plot.vb.setRange(xRange=(3, 7), yRange=(9, 13), padding=0)        # zoom in on 4 x 4 cells
    qtbot.waitUntil(lambda: a.zoom is not None and a.zoom_img.isVisible() and window.client.idle, timeout=60000)
    z = a.zoom
    q0, q1, k0, k1 = z.q_edges[0], z.q_edges[-1], z.k_edges[0], z.k_edges[-1]
    assert z.exact and q0 <= 9 and q1 >= 13 and k0 <= 3 and k1 >= 7      # the window covers the view
    want = ref[q0:q1, k0:k1].copy()
    want[np.arange(q0, q1)[:, None] < np.arange(k0, k1)[None, :]] = np.nan
    np.testing.assert_allclose(a.zoom_img.values, want, atol=1e-5)
    np.testing.assert_array_equal((a.zoom_img.rgba() == MASK).all(-1), np.isnan(want))
    assert f"{ref[11, 5]:.4f}" in a.describe_cell(11, 5)                  # the read-out is the exact cell
    assert window.client._worker.traces == traces                         # zooming made no model pass
    shown = a.xaxis.positions(3, 7, a.plot.vb.width())                     # labels appear when they fit
    assert shown == [3, 4, 5, 6]


def test_token_strip_draws_only_the_chips_in_view(qtbot):
    from PySide6.QtWidgets import QScrollArea
    from gptviz.ui.widgets.token_chips import TokenChips
    chips, scroll = TokenChips(), QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(chips)
    qtbot.addWidget(scroll)
    scroll.resize(600, 200)
    scroll.show()
    pieces = [Piece(i % 500, f" w{i % 500}", f" w{i % 500}".encode()) for i in range(3000)]
    chips.set_pieces(pieces)
    qtbot.waitUntil(lambda: chips.height() > 1000)

    def in_view():
        r = chips.visibleRegion().boundingRect()
        return sum(chips.chip_rect(i).intersects(r) for i in range(len(pieces)))
    for value in (0, scroll.verticalScrollBar().maximum() // 2, scroll.verticalScrollBar().maximum()):
        scroll.verticalScrollBar().setValue(value)
        scroll.grab()                                                      # paints what is in view
        n = in_view()
        assert 0 < n < 200 and chips.drawn == n                            # 3,000 chips, a screenful drawn


def test_norms_curve_keeps_each_bins_min_and_max(qtbot):
    from gptviz.ui.panels.norms import NormsPanel
    from gptviz.views import Norms
    from gptviz.views.prompt_views import NormsResult
    from gptviz.views.base import Prompt
    T = 20000
    rng = np.random.default_rng(0)
    y = rng.random((3, T)).astype(np.float32)
    y[2, 12345], y[2, 777] = 9.0, -1.0                                     # one spike up, one down
    r = NormsResult(Prompt("x"), Norms(), [Piece(1, "a", b"a")] * T, np.ones(T, np.int64), *y)
    p = NormsPanel()
    qtbot.addWidget(p)
    p.resize(500, 300)
    p.show()
    p.show_result(r)
    qtbot.waitExposed(p)
    xs, ys = p.curves["input_norm"].getData()
    assert len(ys) < T / 4                                                 # decimated to the plot's pixels
    starts = xs[::2].astype(int)
    ds = int(np.diff(starts)[0])
    assert ds > 1 and (np.diff(starts) == ds).all()
    first = starts[0] - ds // 2                  # pyqtgraph puts each min/max pair at its bin's centre
    chunks = y[2][first:first + len(starts) * ds].reshape(-1, ds)
    np.testing.assert_array_equal(np.sort(ys.reshape(-1, 2), axis=1),
                                  np.stack([chunks.min(1), chunks.max(1)], 1))
    assert ys.max() == 9.0 and ys.min() == -1.0                            # the spikes survive
