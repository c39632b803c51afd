"""Compact-vocabulary training: the loss it optimises is exactly the saved full-vocabulary model's loss."""

import numpy as np
import pytest
import torch

from gptviz.core.config import GPTConfig
from gptviz.core.model import GPT
from gptviz.training.config import TrainConfig
from gptviz.training.train import _repeat_pool, repeat_pool_size
from gptviz.training.vocab import CompactVocab

V = 300


def _models(seed=0):
    rng = np.random.default_rng(seed)
    used = rng.choice(V, 40, replace=False)
    vocab = CompactVocab(used, V)
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=12, vocab_size=V, dropout=0.0)
    compact = GPT(GPTConfig(**{**cfg.__dict__, "vocab_size": vocab.size}))
    compact.init_weights(seed)
    with torch.no_grad():
        compact.transformer.wte.weight.mul_(40)          # spread logits so a wrong correction would show
    full = GPT(cfg)
    full.load_state_dict(vocab.expand(compact.state_dict()))
    return rng, vocab, compact.eval(), full.eval()


def test_compact_loss_equals_full_vocabulary_loss():
    rng, vocab, compact, full = _models()
    x = rng.choice(vocab.used, (3, 12))
    y = np.concatenate([rng.choice(vocab.used, (3, 8)), rng.integers(0, V, (3, 4))], axis=1)   # some unused ids
    y[0, :3] = -1                                                                             # no-loss positions
    with torch.no_grad():
        logits = full(torch.from_numpy(x))[0].double().numpy()                                # (3, 12, V)
        got = vocab.loss(compact(torch.from_numpy(vocab.to_compact(x)))[0],
                         torch.from_numpy(vocab.to_compact(y))).item()
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)                        # numpy reference
    mask = y >= 0
    want = -logp[np.nonzero(mask) + (y[mask],)].mean()
    assert not np.isin(y[mask], vocab.used).all()
    assert got == pytest.approx(want, abs=1e-4)


def test_expanded_rows_and_logits():
    rng, vocab, compact, full = _models(1)
    wte_c, wte_f = compact.transformer.wte.weight, full.transformer.wte.weight
    unused = np.setdiff1d(np.arange(V), vocab.used)
    assert torch.equal(wte_f[torch.from_numpy(vocab.used)], wte_c[: vocab.K])
    assert torch.equal(wte_f[torch.from_numpy(unused)], wte_c[vocab.K].expand(len(unused), -1))
    x = rng.integers(0, V, (2, 12))                                                             # unused inputs too
    with torch.no_grad():
        lf = full(torch.from_numpy(x))[0]
        lc = compact(torch.from_numpy(vocab.to_compact(x)))[0]
    np.testing.assert_allclose(lf[..., vocab.used].numpy(), lc[..., : vocab.K].numpy(), atol=1e-5)


def test_to_compact_keeps_no_loss_marks():
    vocab = CompactVocab(np.array([5, 9, 9, 2]), 20)
    assert vocab.K == 3 and vocab.n_unused == 17
    assert vocab.to_compact(np.array([2, 5, 9, -1, 0])).tolist() == [0, 1, 2, -1, 3]


def test_repeat_top_draws_the_most_frequent_ids():
    a = TrainConfig.from_argv(["--data", "x", "--out", "y", "--repeat-top", "3"])
    train = np.array([7, 7, 7, 3, 3, 11, 11, 11, 11, 40, 2, 2, 2])
    tok = type("Tok", (), {"n_vocab": 50, "eot_id": 49})()
    assert _repeat_pool(a, tok, train, None).tolist() == [11, 2, 7]       # most frequent first, ties by id
    a = TrainConfig.from_argv(["--data", "x", "--out", "y", "--repeat-top", "2:8", "--repeat-grow", "10"])
    assert [repeat_pool_size(a, s, 5) for s in (0, 5, 10, 20)] == [2, 4, 5, 5]      # 2 -> 8 geometric, capped at 5
    a = TrainConfig.from_argv(["--data", "x", "--out", "y", "--repeat-ids", "1:12", "--repeat-fraction", "0.5"])
    assert _repeat_pool(a, tok, train, CompactVocab(train, 50)).tolist() == [2, 3, 7, 11]   # ids in the text only


def test_vocab_top_then_init_from_carries_the_trained_rows(tmp_path):
    """A curriculum stage over the 5 most frequent ids, then a full run started from it."""
    from gptviz.training.train import train
    from safetensors.torch import load_file
    data = tmp_path / "t.txt"
    data.write_text("the cat sat on the mat and the dog sat on the log. " * 60, encoding="utf-8")
    base = ["--data", str(data), "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
            "--batch-size", "4", "--eval-interval", "5", "--eval-windows", "2", "--bf16", "off", "--warmup", "1"]
    a_out, b_out = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    train(TrainConfig.from_argv(base + ["--out", str(a_out), "--steps", "5", "--vocab-top", "5", "--repeat-fraction", "1",
                               "--repeat-top", "5"]))
    wa = load_file(str(a_out))["transformer.wte.weight"].float()
    rows, inv, counts = torch.unique(wa, dim=0, return_inverse=True, return_counts=True)
    trained_ids = torch.nonzero(counts[inv] == 1).flatten()
    assert len(trained_ids) == 5 and counts.max() == len(wa) - 5          # 5 own rows, one shared by the rest
    model, _ = train(TrainConfig.from_argv(base + ["--out", str(b_out), "--steps", "1", "--lr", "0", "--init-from", str(a_out)]))
    wb = model.transformer.wte.weight.detach()
    np.testing.assert_allclose(wb[trained_ids].numpy(), wa[trained_ids].numpy(), atol=1e-3)   # fp16 file
    fresh = torch.tensor([int(i) for i in np.unique(gptviz_ids(data)) if i not in set(trained_ids.tolist())])
    assert len(fresh) > 0
    assert not torch.allclose(wb[fresh], wa[fresh])                       # not the shared row: freshly initialised
    assert len(torch.unique(wb[fresh], dim=0)) == len(fresh)


def gptviz_ids(path):
    from gptviz.core.tokenizer import gpt2_tokenizer
    return gpt2_tokenizer().enc.encode_ordinary(path.read_text(encoding="utf-8"))
