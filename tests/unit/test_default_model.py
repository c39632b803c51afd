"""Facts about the shipped model (resources/models/default.safetensors), not timings."""
import json

import numpy as np
import pytest
from safetensors import safe_open

import gptviz
from gptviz.checkpoints.registry import DEFAULT_MODEL

# Plain English written for this test (not from the training corpus).
NATURAL = ("Tom had a red kite. Every morning he ran to the hill behind his house and let the kite fly high "
           "above the trees. One windy day the string slipped from his hand. The kite went over the river and "
           "landed in a tall tree. Tom was sad, but his sister Mia had an idea. She brought a long stick from "
           "the garden, and together they pulled the kite down. Tom smiled and said thank you. After that day "
           "he always held the string with both hands, and the two of them flew the kite together.")


@pytest.fixture(scope="module")
def model():
    return gptviz.load()


def test_shipped_file_format():
    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size <= 25_000_000
    with safe_open(str(DEFAULT_MODEL), "pt") as f:
        meta = f.metadata()
        assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F16"}
    facts = json.loads(meta["training"])
    assert facts["steps"] > 0 and facts["tokens_seen"] > 0
    assert "tinystories-sample.txt" in facts["val_loss"]
    assert all(d["sha256"] for d in facts["data"])


def test_load_opens_the_default(model):
    assert model.name == "gptviz-default" and model.format == "gptviz"
    assert not any("untrained" in w for w in model.warnings)


def test_once_upon_a_time(model):
    p = model.trace("Once upon a").next_token_probs()
    assert model.tokenizer.decode([int(np.argmax(p))]) == " time"


KNOWN_GAP = ("the shipped model (12M parameters, 11.5M training tokens on 2 CPU cores) has not formed a previous-token "
             "or induction head; README 'The built-in model' gives the measurements. strict: passing means the "
             "gap is closed and this marker must go")


@pytest.mark.xfail(strict=True, reason=KNOWN_GAP)
def test_previous_token_head(model):
    tr = model.trace(NATURAL)
    T = tr.T
    best = 0.0
    for layer in range(model.config.n_layer):
        a = tr.attention(layer)
        prev = a[:, np.arange(1, T), np.arange(T - 1)].mean(axis=1)     # (H,) mean attention on position i-1
        best = max(best, float(prev.max()))
    assert best > 0.5, f"strongest previous-token head puts only {best:.2f} on the previous token"


@pytest.mark.xfail(strict=True, reason=KNOWN_GAP)
def test_induction(model):
    """Random tokens from GPT-2's merged ids 256..755 (BPE ids follow merge rank, roughly frequency), the range
    the training's repeated spans drew from last; see README "The built-in model"."""
    rng = np.random.default_rng(2024)
    for trial in range(3):
        span = rng.integers(256, 756, 60).tolist()
        ids = span + span
        logits = model.trace_ids(ids).logits().astype(np.float64)            # (T, V)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        nll = -logp[np.arange(len(ids) - 1), ids[1:]]                         # loss predicting token t+1
        first, second = nll[:59].mean(), nll[60:].mean()
        assert second < first / 2, f"second copy {second:.2f} vs first {first:.2f} nats"
