"""Sampling filters against direct recomputation; generation equals step-by-step fresh traces."""
import numpy as np
import pytest

import gptviz
from gptviz.analysis.sampling import filter_probs
from gptviz.core.generate import generate, generate_ids
from tests.reference import nanogpt_state, save_nanogpt


def test_filter_probs():
    p = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
    np.testing.assert_allclose(filter_probs(p, top_k=2), [0, 0.4 / 0.7, 0, 0.3 / 0.7, 0])
    np.testing.assert_allclose(filter_probs(p, top_p=0.75), [0, 0.4 / 0.85, 0, 0.3 / 0.85, 0.15 / 0.85])
    np.testing.assert_allclose(filter_probs(p), p)
    with pytest.raises(ValueError):
        filter_probs(np.zeros(3))


def test_greedy_generation_equals_fresh_argmax(hf_folder):
    m = gptviz.load(str(hf_folder))
    fresh = gptviz.load(str(hf_folder))
    ids = m.tokenizer.encode("Once upon a time")
    out = list(generate_ids(m, "Once upon a time", 8, temperature=0))
    for tok in out:
        fresh.clear_cache()
        assert tok == int(np.argmax(fresh.trace_ids(ids).logits()[-1]))
        ids.append(tok)


def test_seeded_sampling_is_reproducible_and_cancellable(hf_folder):
    m = gptviz.load(str(hf_folder))
    a = generate(m, "Hello", 10, temperature=1.2, top_k=50, top_p=0.9, seed=3)
    b = generate(m, "Hello", 10, temperature=1.2, top_k=50, top_p=0.9, seed=3)
    assert a == b
    count = iter(range(100))
    assert len(list(generate_ids(m, "Hello", 10, cancelled=lambda: next(count) >= 4))) == 4


def test_padded_ids_never_sampled(tmp_path):
    sd, args = nanogpt_state(seed=2)
    sd["transformer.wte.weight"][50257:] *= 50      # make the padded rows' logits dominate
    save_nanogpt(tmp_path / "ckpt.pt", sd, args)
    m = gptviz.load(str(tmp_path / "ckpt.pt"))
    assert all(i < 50257 for i in generate_ids(m, "x", 30, temperature=2.0, seed=0))
