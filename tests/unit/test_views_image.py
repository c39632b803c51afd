"""views.image.quantise: the colour index of every value, against a float64 numpy computation."""
import numpy as np
import pytest

from gptviz.views import image as vi


def test_quantise_matches_numpy_steps_nan_and_mask():
    rng = np.random.default_rng(0)
    lo, hi = -2.0, 3.0
    v = rng.uniform(-4, 5, (3, 700, 9)).astype(np.float32)     # 700 rows: more than one numpy step per matrix
    v[0, 0, :3] = (np.nan, lo, hi)
    hidden = rng.random((700, 9)) < 0.2
    got = vi.quantise(v, lo, hi, hidden)
    step = np.floor((v.astype(np.float64) - lo) / (hi - lo) * vi.LEVELS)
    want = np.clip(step, 0, vi.LEVELS - 1)
    want = np.where(np.isnan(v), vi.NAN, want)
    want[:, hidden] = vi.MASK
    near_edge = np.abs(step - np.round(step)) < 1e-3 * vi.LEVELS / (hi - lo)    # float32 rounding at a step's edge
    assert got.dtype == np.uint8 and got.shape == v.shape
    np.testing.assert_array_equal(got[~near_edge], want[~near_edge].astype(np.uint8))
    assert (np.abs(got.astype(int) - want)[near_edge] <= 1).all()
    assert got[0, 0, 0] in (vi.NAN, vi.MASK) and got[0, 0, 1] in (0, vi.MASK)
    assert set(range(vi.LEVELS)) <= set(np.unique(got[:, ~hidden]).tolist())      # every colour step is used


def test_causal_hidden_is_the_future_and_the_band():
    T, w = 7, 3
    q, k = np.indices((T, T))
    np.testing.assert_array_equal(vi.causal_hidden(T), k > q)
    np.testing.assert_array_equal(vi.causal_hidden(T, w), (k > q) | (q - k >= w))
    np.testing.assert_array_equal(vi.causal_hidden(T, 100), k > q)              # a window past the prompt


def test_quantise_empty():
    assert vi.quantise(np.zeros((2, 0, 0), np.float32)).shape == (2, 0, 0)


def test_head_images_quantise_each_head_once_when_asked():
    rng = np.random.default_rng(1)
    v = rng.random((3, 5, 5)).astype(np.float32)          # (H, rows, cols)
    v[1, 0, 0] = np.nan
    hidden = np.triu(np.ones((5, 5), bool), 1)
    imgs = vi.HeadImages(v, 0.0, 1.0, hidden, nan=vi.MASK)
    assert imgs.indexed == () and len(imgs) == 3 and imgs.nbytes == 0
    got = imgs[1]
    want = np.clip(np.floor(v[1].astype(np.float64) * vi.LEVELS), 0, vi.LEVELS - 1)
    want = np.where(np.isnan(v[1]) | hidden, vi.MASK, want)
    np.testing.assert_array_equal(got, want.astype(np.uint8))
    assert imgs.indexed == (1,) and imgs[1] is got and not got.flags.writeable and imgs.nbytes == 25
    np.testing.assert_array_equal(imgs[-1], imgs[2])
    with pytest.raises(IndexError, match="head 3 of 3"):
        imgs[3]
