"""The heatmaps the worker colour-indexes (views.image): what Qt draws is numpy's own quantisation of the
float pattern with the panel's levels (0..1) and colour map, the causal mask in grey; the float values the
panel keeps are a fresh trace's pattern."""
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage

import gptviz
from gptviz.views import attention as va

from .conftest import settle

TEXT = "one two three two three four five six seven eight nine ten eleven twelve"
MASK = np.array((200, 200, 200, 255), np.uint8)
STEPS = 254                                      # colour steps of the 0..1 range


def drawn(img) -> np.ndarray:
    """(rows, cols, 4) RGBA of the QImage the item paints, read back from Qt."""
    img.render()
    q = img.qimage.convertToFormat(QImage.Format.Format_RGBA8888)
    return pg.functions.ndarray_from_qimage(q).copy()


def expected(values: np.ndarray, hidden: np.ndarray, cmap_name: str = "viridis") -> np.ndarray:
    """numpy's quantisation: step floor(p * STEPS) (the last step takes p == 1) of the colour map's
    STEPS-entry table over levels 0..1; hidden cells the mask grey."""
    table = pg.colormap.get(cmap_name).getLookupTable(0.0, 1.0, STEPS, alpha=True)   # (STEPS, 4)
    step = np.minimum(np.floor(values.astype(np.float32) * np.float32(STEPS)), STEPS - 1).astype(int)
    out = table[np.clip(step, 0, STEPS - 1)]
    out[hidden] = MASK
    return out


def test_exact_heatmap_is_numpys_quantisation_of_the_pattern(qtbot, window, hf_folder):
    a = window.attention
    a.select(1, 3)
    window.editor.setPlainText(TEXT)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("attention") is not None, timeout=60000)
    ref = gptviz.load(str(hf_folder)).trace(TEXT).attention(1)[3]          # (T, T) a fresh trace
    T = len(ref)
    np.testing.assert_allclose(a.img.values, ref, atol=1e-5)
    q, k = np.indices((T, T))
    want = expected(a.img.values, k > q)
    np.testing.assert_array_equal(drawn(a.img), want)
    # against the fresh trace itself: the same colour wherever its value is not at a step's edge
    edge = np.abs(ref * STEPS - np.round(ref * STEPS)) < 1e-2
    np.testing.assert_array_equal(drawn(a.img)[~edge], expected(ref, k > q)[~edge])
    assert len(np.unique(want[k <= q], axis=0)) > 10                        # many colours, not one
    r = window.current("attention")
    assert r.image.indexed == (3,)                   # the worker indexed the head on screen only
    a.select(1, 0)                                   # another head: indexed when shown, its own pattern
    assert window.current("attention") is r and r.image.indexed == (0, 3)
    ref0 = gptviz.load(str(hf_folder)).trace(TEXT).attention(1)[0]            # (T, T) a fresh trace's head 0
    np.testing.assert_allclose(a.img.values, ref0, atol=1e-5)
    np.testing.assert_array_equal(drawn(a.img), expected(a.img.values, k > q))
    edge = np.abs(ref0 * STEPS - np.round(ref0 * STEPS)) < 1e-2
    np.testing.assert_array_equal(drawn(a.img)[~edge], expected(ref0, k > q)[~edge])
    assert not np.array_equal(drawn(a.img), want)                           # not head 3's picture


def test_pooled_heatmap_is_numpys_quantisation_of_the_blocks(qtbot, window, monkeypatch, hf_folder):
    monkeypatch.setattr(va, "EXACT_MAX", 8)
    monkeypatch.setattr(va, "POOL_BINS", 6)
    a = window.attention
    window.editor.setPlainText(TEXT)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("attention") is not None and a.pooled, timeout=60000)
    v = a.img.values                                                         # (6, 6) block maxima, NaN masked
    assert v.shape == (6, 6) and np.isnan(v).any()
    np.testing.assert_array_equal(drawn(a.img), expected(np.nan_to_num(v), np.isnan(v)))
    before = drawn(a.img)
    a.select(a.layer, (a.head + 1) % a.n_head)                               # another head of the pooled layer
    v = a.img.values
    ref = gptviz.load(str(hf_folder)).trace(TEXT).attention(a.layer)[a.head]   # (T, T) a fresh trace's head
    e = np.linspace(0, len(ref), 7).round().astype(int)                        # the 6 blocks a side
    want = np.array([[ref[e[i]:e[i + 1], e[j]:e[j + 1]].max() if e[j] < e[i + 1] else np.nan
                      for j in range(6)] for i in range(6)], np.float32)      # block maxima, NaN all-future
    np.testing.assert_allclose(v, want, atol=1e-5)
    np.testing.assert_array_equal(drawn(a.img), expected(np.nan_to_num(v), np.isnan(v)))
    assert not np.array_equal(drawn(a.img), before)


def test_all_heads_mosaic_is_each_thumbnail_scaled_to_its_maximum(qtbot, window):
    window.editor.setPlainText(TEXT)
    settle(qtbot, window)
    h = window.heads
    th = h.result.thumbnails                                                  # (L, H, t, t)
    L, H, t, _ = th.shape
    T = h.result.T
    q, k = np.indices((t, t))
    pic = drawn(h.img)
    for layer in range(L):
        for head in range(H):
            tile = pic[layer * h.tile:layer * h.tile + t, head * h.tile:head * h.tile + t]
            m = th[layer, head]
            np.testing.assert_array_equal(tile, expected(m / m.max(), k > q if T <= 48 else h.masks[layer]))
    gap = pic[:t, t:h.tile]                                                   # between two thumbnails
    assert gap.size and (gap[..., 3] == 0).all()                              # transparent: the white canvas
