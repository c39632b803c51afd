"""Attention and norm invariants, checked against numpy recomputation from the raw weight file."""
import numpy as np
import pytest
from safetensors.numpy import load_file

import gptviz
from gptviz.checkpoints.errors import CheckpointError
from gptviz.core.config import ConfigError, GPTConfig
from tests.reference import make_hf_model, nanogpt_state, save_nanogpt

TEXT = "Attention is all you need, said the paper. Then everyone trained transformers."


def test_attention_rows_and_causal_mask(hf_folder):
    m = gptviz.load(str(hf_folder))
    tr = m.trace(TEXT)
    for layer in range(m.config.n_layer):
        a = tr.attention(layer)
        assert a.shape == (m.config.n_head, tr.T, tr.T) and a.dtype == np.float32
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(a, 1) == 0)
        assert np.all(a >= 0)


def test_norms_equal_numpy_recomputation(hf_folder):
    w = load_file(str(hf_folder / "model.safetensors"))
    m = gptviz.load(str(hf_folder))
    tr = m.trace(TEXT)
    ids = tr.token_ids
    wte, wpe = w["transformer.wte.weight"][ids], w["transformer.wpe.weight"][: len(ids)]
    np.testing.assert_allclose(tr.token_embedding_norm, np.linalg.norm(wte, axis=1), rtol=1e-5)
    np.testing.assert_allclose(tr.position_embedding_norm, np.linalg.norm(wpe, axis=1), rtol=1e-5)
    np.testing.assert_allclose(tr.input_norm, np.linalg.norm(wte + wpe, axis=1), rtol=1e-5)


def test_next_token_probs_temperature(hf_folder):
    m = gptviz.load(str(hf_folder))
    tr = m.trace(TEXT)
    logits = tr.logits()[-1].astype(np.float64)
    for t in (0.5, 1.0, 2.0):
        z = np.exp((logits - logits.max()) / t)
        np.testing.assert_allclose(tr.next_token_probs(t), z / z.sum(), atol=1e-6)
    greedy = tr.next_token_probs(0)
    assert greedy[np.argmax(logits)] == 1 and greedy.sum() == 1


def test_truncation_to_block_size(hf_folder):
    m = gptviz.load(str(hf_folder))      # block_size 64
    text = " ".join(f"word{i}" for i in range(100))
    ids = m.tokenizer.encode(text)
    tr = m.trace(text)
    assert tr.truncated and tr.T == 64 and tr.n_prompt_tokens == len(ids)
    assert list(tr.token_ids) == ids[-64:]
    assert not m.trace("short").truncated


def test_prepend_bos(hf_folder):
    m = gptviz.load(str(hf_folder))
    assert list(m.trace("Hi", prepend_bos=True).token_ids) == [50256] + m.tokenizer.encode("Hi")
    assert list(m.trace("Hi").token_ids) == m.tokenizer.encode("Hi")


def test_empty_prompt(hf_folder):
    m = gptviz.load(str(hf_folder))
    tr = m.trace("")
    assert tr.T == 0 and tr.tokens == [] and tr.attention(0).shape == (m.config.n_head, 0, 0)
    with pytest.raises(ValueError, match="empty"):
        tr.next_token_probs()


# ---- config and weights disagree: an error naming the key and both shapes, never random weights ----

def _hf_with_config(tmp_path, **override):
    model = make_hf_model()
    model.save_pretrained(tmp_path)
    cfg = model.config.to_dict()
    cfg.update(override)
    import json
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_more_layers_in_config_than_weights(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing weight transformer\.h\.2\.ln_1\.weight \(expected shape \[32\]\)"):
        gptviz.load(str(_hf_with_config(tmp_path, n_layer=3)))


def test_fewer_layers_in_config_than_weights(tmp_path):
    with pytest.raises(CheckpointError, match=r"unexpected weight transformer\.h\.1\..* with shape"):
        gptviz.load(str(_hf_with_config(tmp_path, n_layer=1)))


def test_n_embd_disagrees(tmp_path):
    with pytest.raises(CheckpointError,
                       match=r"transformer\.wte\.weight has shape \[50257, 32\], config expects \[50257, 48\]"):
        gptviz.load(str(_hf_with_config(tmp_path, n_embd=48, n_head=4)))


def test_n_head_not_dividing(tmp_path):
    with pytest.raises(CheckpointError, match="not divisible by n_head=5"):
        gptviz.load(str(_hf_with_config(tmp_path, n_head=5)))


def test_nanogpt_missing_and_misshapen(tmp_path):
    sd, args = nanogpt_state()
    del sd["transformer.h.1.mlp.c_fc.weight"]
    save_nanogpt(tmp_path / "a" / "ckpt.pt", sd, args)
    with pytest.raises(CheckpointError, match=r"missing weight transformer\.h\.1\.mlp\.c_fc\.weight \(expected shape \[128, 32\]\)"):
        gptviz.load(str(tmp_path / "a" / "ckpt.pt"))
    sd, args = nanogpt_state()
    sd["transformer.h.0.attn.c_proj.weight"] = sd["transformer.h.0.attn.c_proj.weight"][:, :16]
    save_nanogpt(tmp_path / "b" / "ckpt.pt", sd, args)
    with pytest.raises(CheckpointError, match=r"transformer\.h\.0\.attn\.c_proj\.weight has shape \[32, 16\], config expects \[32, 32\]"):
        gptviz.load(str(tmp_path / "b" / "ckpt.pt"))


def test_absurd_model_args(tmp_path):
    sd, args = nanogpt_state()
    for bad, pattern in (({"n_embd": "32"}, "must be an integer"), ({"n_embd": 10**6}, "outside"),
                         ({"n_layer": -1}, "outside")):
        save_nanogpt(tmp_path / "ckpt.pt", sd, {**args, **bad})
        with pytest.raises(CheckpointError, match=pattern):
            gptviz.load(str(tmp_path / "ckpt.pt"))


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ConfigError):
        GPTConfig(activation="relu")
