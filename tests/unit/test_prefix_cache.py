"""Traces that reuse the cached prefix equal a fresh full pass, over random edit sequences."""
import random

import numpy as np

import gptviz


def test_random_edits_equal_fresh_pass(hf_folder):
    m = gptviz.load(str(hf_folder))
    fresh = gptviz.load(str(hf_folder))
    rng = random.Random(0)
    words = "the cat sat on a mat and then it ran far away over hills , . ; \n".split(" ")
    text = "Once upon a time"
    reused = []
    for step in range(40):
        op = rng.choice(["append", "append", "insert", "delete", "replace"])
        pos = rng.randrange(len(text) + 1)
        w = rng.choice(words) + " "
        if op == "append":
            text += w
        elif op == "insert":
            text = text[:pos] + w + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + rng.randrange(1, 6):]
        else:
            text = text[:pos] + w + text[pos + 3:]
        tr = m.trace(text)
        reused.append(m.last_reused)
        fresh.clear_cache()
        ref = fresh.trace(text)
        assert fresh.last_reused == 0
        np.testing.assert_array_equal(tr.token_ids, ref.token_ids)
        np.testing.assert_allclose(tr.logits(), ref.logits(), atol=1e-5, rtol=0)
        for layer in range(m.config.n_layer):
            np.testing.assert_allclose(tr.attention(layer), ref.attention(layer), atol=1e-5, rtol=0)
        np.testing.assert_allclose(tr.input_norm, ref.input_norm, atol=1e-6)
    assert sum(r > 0 for r in reused) > 20     # the cache was actually used


def test_append_reuses_prefix(hf_folder):
    m = gptviz.load(str(hf_folder))
    m.trace("The quick brown fox")
    m.trace("The quick brown fox jumps")
    assert m.last_reused == len(m.tokenizer.encode("The quick brown fox"))
    m.trace("The quick brown")                 # deletion at the end: a slice, nothing recomputed
    assert m.last_reused == len(m.tokenizer.encode("The quick brown"))


def test_old_trace_unchanged_by_later_traces(hf_folder):
    m = gptviz.load(str(hf_folder))
    t1 = m.trace("one two three four")
    a = t1.attention(1).copy()
    lg = t1.logits().copy()
    m.trace("one two five six seven")
    np.testing.assert_array_equal(t1.attention(1), a)
    np.testing.assert_array_equal(t1.logits(), lg)
