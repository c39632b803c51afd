"""Training data and initialisation for the copy curricula: repeated passages of real text, and the
embedding rows an --init-from run draws afresh for ids the earlier run never trained."""

import numpy as np
import torch

from gptviz.training.config import TrainConfig
from gptviz.training.data import DataFile, Sampler


def _files(rng):
    a = rng.integers(0, 1000, 5000)          # two "texts" of distinct ids so a passage's source is clear
    b = rng.integers(2000, 3000, 5000)
    return [DataFile(path=None, weight=1.0, sha256="", train=a, val=a[:10]),
            DataFile(path=None, weight=1.0, sha256="", train=b, val=b[:10])]


def _find(hay: np.ndarray, needle: np.ndarray) -> bool:
    w = np.lib.stride_tricks.sliding_window_view(hay, len(needle))   # (N - L + 1, L)
    return bool((w == needle).all(axis=1).any())


def test_repeated_passages_are_real_text_written_again_with_loss_everywhere():
    rng = np.random.default_rng(0)
    files = _files(rng)
    T = 64
    s = Sampler(files, T, np.arange(10), repeat_fraction=0.0, seed=3, natural_fraction=1.0)
    x, y = s.batch(32)
    periods = []
    for xr, yr in zip(x, y):
        seq = np.append(xr, yr[-1])                                   # (T+1,) the window as sampled
        L = next(p for p in range(8, T // 2 + 1) if (seq[p:] == seq[:-p]).all())   # its period
        periods.append(L)
        first = seq[:L]
        assert any(_find(f.train, first) for f in files)             # a contiguous piece of one training text
        assert (y >= 0).all()                                         # the first copy is ordinary text: it has loss
        np.testing.assert_array_equal(yr, seq[1:])
    assert len(set(periods)) > 5                                      # lengths vary
    assert max(periods) <= T // 2                                    # so each window holds two copies or more


def test_the_mix_follows_the_fractions():
    rng = np.random.default_rng(1)
    files = _files(rng)
    s = Sampler(files, 32, np.arange(5000, 5100), repeat_fraction=0.3, seed=4, natural_fraction=0.3)
    x, _ = s.batch(2000)
    spans = (x >= 5000).all(axis=1).mean()                             # random spans draw from 5000..5099
    periodic = np.mean([any((r[p:] == r[:-p]).all() for p in range(8, 17)) for r in x if (r < 5000).all()])
    assert abs(spans - 0.3) < 0.04
    assert abs(periodic - 0.3 / 0.7) < 0.05                           # of the rest, passages are 3 in 7


def test_the_fractions_cannot_exceed_one():
    rng = np.random.default_rng(2)
    try:
        Sampler(_files(rng), 32, np.arange(10), repeat_fraction=0.7, seed=0, natural_fraction=0.5)
    except ValueError as e:
        assert "more than 1" in str(e)
    else:
        raise AssertionError("accepted fractions summing to 1.2")


def test_init_from_draws_untrained_rows_like_the_trained_ones(tmp_path):
    """A compact run trains 40 rows; a full-vocabulary run started from it gets 50,217 distinct new rows
    with the trained rows' per-dimension mean and spread (not the 0.02-normal init near the origin)."""
    from gptviz.training.train import train
    from safetensors.torch import load_file
    data = tmp_path / "t.txt"
    words = " ".join(f"w{i}" for i in range(20))
    data.write_text((words + ". ") * 40, encoding="utf-8")
    base = ["--data", str(data), "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
            "--batch-size", "4", "--eval-interval", "5", "--eval-windows", "1", "--bf16", "off", "--warmup", "1"]
    a_out, b_out = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    train(TrainConfig.from_argv(base + ["--out", str(a_out), "--steps", "5", "--lr", "0.05"]))
    wa = load_file(str(a_out))["transformer.wte.weight"].float()                 # (V, 16)
    _, inv, counts = torch.unique(wa, dim=0, return_inverse=True, return_counts=True)
    trained = counts[inv] == 1
    model, _ = train(TrainConfig.from_argv(base + ["--out", str(b_out), "--steps", "1", "--lr", "0",
                                                   "--compact-vocab", "off", "--init-from", str(a_out)]))
    wb = model.transformer.wte.weight.detach()
    np.testing.assert_allclose(wb[trained].numpy(), wa[trained].numpy(), atol=1e-3)   # kept (fp16 file)
    new = wb[~trained]
    assert len(torch.unique(new, dim=0)) == len(new)
    ref = wa[trained].numpy().astype(np.float64)
    mean, std = ref.mean(0), ref.std(0, ddof=1)
    tol = 4 * std / np.sqrt(len(new))
    assert (np.abs(new.numpy().mean(0) - mean) < tol + 1e-4).all()
    np.testing.assert_allclose(new.numpy().std(0, ddof=1), std, rtol=0.03)
    assert std.mean() > 0.05                                          # far from the 0.02-normal init
