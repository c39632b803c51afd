"""--prev-token-aux: the probe's loss against numpy, the block-0 capture against the tracing path,
the fade, resume, and that it grows a previous-token head the saved model keeps."""

import numpy as np
import pytest
import torch
from safetensors import safe_open

import gptviz
from gptviz.cli import main
from gptviz.core.config import GPTConfig
from gptviz.core.model import GPT
from gptviz.core.tokenizer import gpt2_tokenizer
from gptviz.training.config import TrainConfig
from gptviz.training.train import train
from gptviz.training.prev_token_probe import STRIDE, PrevTokenProbe, aux_weight, block0_output, parse_aux


def _tiny(seed=0):
    torch.manual_seed(seed)
    m = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=50, dropout=0.0))
    m.init_weights(seed)
    return m.eval()


def test_block0_output_matches_the_tracing_path():
    m = _tiny()
    idx = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with block0_output(m) as seen:
            m(idx)
        resid, _ = m.run(idx[1], 0, None)                      # (L+1, T, C): the tracing code path
        m(idx)                                                 # the hook is gone after the block
    assert len(seen) == 1 and not m.transformer.h[0]._forward_hooks
    np.testing.assert_allclose(seen[0][1].numpy(), resid[1].numpy(), atol=1e-6)


def test_probe_loss_equals_numpy_cross_entropy_of_previous_token():
    m = _tiny()
    probe = PrevTokenProbe(32)
    idx = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(2))
    h1 = torch.randn(3, 16, 32, generator=torch.Generator().manual_seed(3))
    first = 3
    with torch.no_grad():
        got = probe.loss(m, h1, idx, first).item()
    h, ids = h1.double().numpy(), idx.numpy()
    W, b = probe.proj.weight.detach().double().numpy(), probe.proj.bias.detach().double().numpy()
    E = m.transformer.wte.weight.detach().double().numpy()                 # (V, C), tied unembedding
    nll = []
    for bi in range(3):
        for t in range(first, 16, STRIDE):
            z = h[bi, t] @ W.T + b
            z = (z - z.mean()) / np.sqrt(z.var() + 1e-5)
            lg = E @ z
            nll.append(np.logaddexp.reduce(lg) - lg[ids[bi, t - 1]])       # target: the token before t
    assert got == pytest.approx(np.mean(nll), abs=1e-5)


def test_parse_and_fade():
    assert parse_aux(None) == (0.0, 0) and parse_aux("1") == (1.0, 0) and parse_aux("0.5:200") == (0.5, 200)
    for bad in ("x", "1:0", "-1", "1:2:3", "1:2.5"):
        with pytest.raises(ValueError, match="--prev-token-aux"):
            parse_aux(bad)
    assert aux_weight(2.0, 0, 10_000) == 2.0
    assert [aux_weight(2.0, 100, s) for s in (0, 25, 100, 150)] == [2.0, 1.5, 0.0, 0.0]


def _args(tmp_path, out, steps, extra=()):
    ids = np.random.default_rng(0).integers(300, 800, 8000).tolist()
    data = tmp_path / "noise.txt"                              # random BPE pieces: no order to learn, so only the
    data.write_text(gpt2_tokenizer().decode(ids), encoding="utf-8")   # probe asks for token t-1
    return ["--data", str(data), "--out", str(out), "--n-layer", "2", "--n-head", "2", "--n-embd", "64",
            "--block-size", "32", "--batch-size", "8", "--steps", str(steps), "--eval-interval", "20", "--warmup", "5",
            "--lr", "5e-3", "--eval-windows", "4", "--dropout", "0", "--seed", "3", "--bf16", "off", *extra]


def _best_previous_token_head(path) -> float:
    m = gptviz.load(str(path))
    ids = np.random.default_rng(1).integers(300, 800, 30).tolist()     # fresh random pieces
    tr = m.trace_ids(ids)
    T = tr.T
    return max(float(tr.attention(l)[:, np.arange(1, T), np.arange(T - 1)].mean(axis=1).max())
               for l in range(m.config.n_layer))


def test_prev_token_aux_grows_a_previous_token_head_that_the_file_keeps(tmp_path):
    with_aux, without = tmp_path / "aux.safetensors", tmp_path / "plain.safetensors"
    _, facts = train(TrainConfig.from_argv(_args(tmp_path, with_aux, 400, ["--prev-token-aux", "1"])))
    train(TrainConfig.from_argv(_args(tmp_path, without, 400)))
    aux = [h["prev_token_aux"] for h in facts["history"]]
    assert aux[-1] < aux[0] - 1.0                             # the probe learns to name the previous token...
    best_aux, best_plain = _best_previous_token_head(with_aux), _best_previous_token_head(without)
    assert best_aux > 0.5 and best_aux > best_plain + 0.2, (best_aux, best_plain)   # ...by a head looking at it
    with safe_open(str(with_aux), "pt") as f:
        assert not any("proj" in k and "attn" not in k and "mlp" not in k for k in f.keys())   # probe not saved


def test_resume_with_aux_equals_one_run(tmp_path):
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    aux = ["--prev-token-aux", "1:8", "--save-interval", "0"]
    assert main(["train", *_args(tmp_path, one, 12, aux)]) == 0
    assert main(["train", *_args(tmp_path, two, 12, aux + ["--stop-at", "6"])]) == 0
    assert main(["train", *_args(tmp_path, two, 12, aux + ["--resume"])]) == 0
    with safe_open(str(one), "pt") as a, safe_open(str(two), "pt") as b:
        for k in a.keys():
            np.testing.assert_array_equal(a.get_tensor(k).numpy(), b.get_tensor(k).numpy(), err_msg=k)
