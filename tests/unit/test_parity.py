"""Logits and attention equal independent references: transformers' GPT2LMHeadModel and a hand-written forward."""
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import gptviz
from tests.reference import (make_hf_model, nanogpt_state, reference_forward, save_hf_bin, save_nanogpt)

PROMPT = "The quick brown fox jumps over the lazy dog. Once upon a time, 東京 🙂 there was\na cat."


def _hf_reference(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    return out.logits[0].numpy(), [a[0].numpy() for a in out.attentions]


def _assert_parity(m, ref_logits, ref_atts, ids):
    tr = m.trace_ids(ids)
    np.testing.assert_allclose(tr.logits(), ref_logits, atol=1e-4, rtol=0)
    assert len(ref_atts) == m.config.n_layer
    for layer, ref in enumerate(ref_atts):
        np.testing.assert_allclose(tr.attention(layer), ref, atol=1e-4, rtol=0)


def test_hf_safetensors_parity(hf_model, hf_folder):
    m = gptviz.load(str(hf_folder))
    ids = m.tokenizer.encode(PROMPT)
    assert len(ids) > 20
    _assert_parity(m, *_hf_reference(hf_model, ids), ids)
    assert m.format == "hf"


def test_hf_bin_parity_with_mask_buffers(hf_model, tmp_path):
    save_hf_bin(hf_model, tmp_path / "bin")
    m = gptviz.load(str(tmp_path / "bin"))
    ids = m.tokenizer.encode(PROMPT)
    _assert_parity(m, *_hf_reference(hf_model, ids), ids)


def test_hf_single_file_without_transformer_prefix(hf_model, tmp_path):
    """A GPT2Model-style file (no `transformer.` prefix) given as a file path, config.json beside it."""
    sd = {k.removeprefix("transformer."): v.contiguous() for k, v in hf_model.state_dict().items()
          if k != "lm_head.weight"}
    save_file(sd, str(tmp_path / "weights.safetensors"))
    hf_model.config.to_json_file(tmp_path / "config.json")
    m = gptviz.load(str(tmp_path / "weights.safetensors"))
    ids = m.tokenizer.encode(PROMPT)
    _assert_parity(m, *_hf_reference(hf_model, ids), ids)


def test_hf_exact_gelu_and_untied_head(tmp_path):
    model = make_hf_model(activation_function="gelu", tie_word_embeddings=False, seed=3)
    assert not torch.equal(model.lm_head.weight, model.transformer.wte.weight)
    model.save_pretrained(tmp_path)
    m = gptviz.load(str(tmp_path))
    assert m.config.activation == "gelu" and not m.config.tie_word_embeddings
    ids = m.tokenizer.encode(PROMPT)
    _assert_parity(m, *_hf_reference(model, ids), ids)


@pytest.mark.parametrize("bias", [False, True])
def test_nanogpt_parity(tmp_path, bias):
    sd, args = nanogpt_state(bias=bias, seed=5)
    path = save_nanogpt(tmp_path / "out" / "ckpt.pt", sd, args)
    m = gptviz.load(str(path))
    assert m.config.vocab_size == 50304 and m.config.bias == bias and m.format == "nanogpt"
    ids = m.tokenizer.encode(PROMPT)
    ref_logits, ref_atts = reference_forward(sd, args["n_layer"], args["n_head"], torch.tensor(ids))
    _assert_parity(m, ref_logits.numpy(), [a.numpy() for a in ref_atts], ids)
    # the padded ids 50257..50303 have no token: never offered as a next token
    probs = m.trace(PROMPT).next_token_probs()
    assert probs.shape == (50304,)
    assert np.all(probs[50257:] == 0)
    assert abs(probs.sum() - 1) < 1e-5


def test_nanogpt_character_level(tmp_path):
    chars = sorted(set("\n !',.:?abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    sd, args = nanogpt_state(vocab_size=len(chars), seed=7, n_layer=3)
    save_nanogpt(tmp_path / "out-shakespeare-char" / "ckpt.pt", sd, args, compiled=False)
    (tmp_path / "data" / "shakespeare_char").mkdir(parents=True)
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    with open(tmp_path / "data" / "shakespeare_char" / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)
    m = gptviz.load(str(tmp_path / "out-shakespeare-char" / "ckpt.pt"))
    text = "First Citizen:\nBefore we proceed any further, hear me speak."
    ids = m.tokenizer.encode(text)
    assert ids == [chars.index(c) for c in text]
    assert m.tokenizer.decode(ids) == text
    ref_logits, ref_atts = reference_forward(sd, 3, args["n_head"], torch.tensor(ids))
    _assert_parity(m, ref_logits.numpy(), [a.numpy() for a in ref_atts], ids)
    assert [t.text for t in m.trace("a b\n").tokens] == ["a", "␣", "b", "↵"]


def test_native_roundtrip_identical_logits(hf_model, hf_folder, tmp_path):
    from gptviz.checkpoints.native import save_native
    m = gptviz.load(str(hf_folder))
    save_native(tmp_path / "mine.safetensors", m.model.state_dict(), m.config, m.tokenizer, "mine")
    m2 = gptviz.load(str(tmp_path / "mine.safetensors"))
    assert m2.format == "gptviz" and m2.name == "mine"
    ids = m.tokenizer.encode(PROMPT)
    np.testing.assert_array_equal(m2.trace_ids(ids).logits(), m.trace_ids(ids).logits())
