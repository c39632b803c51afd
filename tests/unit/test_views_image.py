"""views.image.quantise: the colour index of every value, against a float64 numpy computation."""
import numpy as np

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
