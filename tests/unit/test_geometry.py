"""Token-norm statistics count each distinct embedding row once (numpy references)."""
import numpy as np

import gptviz
from gptviz.analysis.geometry import embedding_geometry


def _unique_median(wte):
    """Independent reference: distinct rows by hashing their bytes, median of their norms."""
    seen = {}
    for row in wte:
        seen.setdefault(row.tobytes(), row)
    return float(np.median([np.linalg.norm(r) for r in seen.values()]))


def test_duplicated_rows_are_counted_once():
    rng = np.random.default_rng(1)
    wte = rng.normal(size=(200, 12)).astype(np.float32)
    wte[:40] *= 0.1                               # small trained rows
    big = rng.normal(size=12).astype(np.float32) * 20
    shared = np.array([3, 50, 51, 77, 120, 199] + list(range(130, 180)))
    wte[shared] = big                             # 56 ids share one large row (an untrained-ids row)
    wte[[10, 11]] = wte[12]                       # a second, small group of three
    g = embedding_geometry(wte, rng.normal(size=(8, 12)))
    expect_ids = np.sort(np.concatenate([shared, [10, 11, 12]]))
    np.testing.assert_array_equal(g["shared_ids"], expect_ids)
    assert g["shared_ids"].dtype == np.int64
    assert g["shared_count"] == len(expect_ids) == 59
    assert g["unique_rows"] == 200 - 59 + 2
    assert g["shared_row_groups"] == 2
    ref = _unique_median(wte)
    assert abs(g["token_norm_median"] - ref) < 1e-6
    assert abs(g["token_norm_median"] - float(np.median(np.linalg.norm(wte, axis=1)))) > 0.05   # it matters here
    np.testing.assert_allclose(g["token_norm_scaled_median"], ref * np.sqrt(12), rtol=1e-6)


def test_no_duplicates_is_the_plain_median():
    rng = np.random.default_rng(2)
    wte = rng.normal(size=(101, 6))
    g = embedding_geometry(wte, rng.normal(size=(4, 6)))
    assert g["shared_count"] == 0 and g["shared_ids"].shape == (0,)
    np.testing.assert_allclose(g["token_norm_median"], np.median(np.linalg.norm(wte, axis=1)), rtol=1e-12)


def test_builtin_model_has_a_row_per_id():
    """Built-in model v2 trained every one of the 50,257 rows (v1 wrote one shared row into the 35,870 ids
    its text never used; the geometry excluded them): no row is shared, and the median is the plain one."""
    m = gptviz.load()
    tr = m.model.transformer
    wte = tr.wte.weight.detach().float().cpu().numpy()          # (50257, d)
    g = embedding_geometry(wte, tr.wpe.weight.detach().float().cpu().numpy())
    assert len(np.unique(wte, axis=0)) == len(wte) == 50257
    assert g["shared_count"] == 0 and g["shared_row_groups"] == 0
    ref = float(np.median(np.linalg.norm(wte.astype(np.float64), axis=1)))
    assert abs(g["token_norm_median"] - ref) < 1e-5
    assert abs(ref - 1.53) < 0.01                                # measured: 1.528
