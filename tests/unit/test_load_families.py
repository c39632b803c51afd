"""Every family through the app's own path (gptviz.load -> LoadedModel -> Trace), against transformers'
eager forward on tiny random checkpoints saved by transformers' own classes (tests/families.py):
logits at every position and every layer's attention within 1e-4, for config.json as current
transformers writes it and as 4.x wrote it; sharded and .bin folders; the prefix cache against a fresh
pass over random edits; bf16 files; the config the views read; refusals by name."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gptviz
from gptviz.checkpoints.errors import CheckpointError
from tests.families import VOCAB, build, hf_forward, old_style, save
from tests.unit.test_families import CASES

TOL = 1e-4
T = 12          # longer than every window in CASES (<= 5)


def _ids(seed=1, n=T):
    return np.random.default_rng(seed).integers(0, VOCAB, n)


def _check_parity(m, hf, ids):
    logits, atts = hf_forward(hf, torch.from_numpy(ids))
    tr = m.trace_ids(ids)
    np.testing.assert_allclose(tr.logits(), logits.numpy(), atol=TOL, rtol=0)
    for l, a in enumerate(atts):
        np.testing.assert_allclose(tr.attention(l), a.numpy(), atol=TOL, rtol=0, err_msg=f"layer {l}")
    np.testing.assert_allclose(tr.logits([T - 1])[0], logits[-1].numpy(), atol=TOL, rtol=0)
    return tr


@pytest.mark.parametrize("style", ["current", "old"])
@pytest.mark.parametrize("case", list(CASES))
def test_gptviz_load_matches_transformers(case, style, tmp_path):
    kind, overrides, _ = CASES[case]
    hf = build(kind, **overrides)
    folder = save(hf, tmp_path / case)
    if style == "old":
        assert "rope_parameters" not in old_style(folder)
    m = gptviz.load(str(folder))
    # transformers' own files: the unembedding sits outside the backbone's prefix, which is no mixture
    assert not [w for w in m.warnings if "weight names start with" in w]
    assert m.config.family == {"mistral": "llama", "qwen2": "llama", "qwen3": "llama"}.get(kind, kind)
    tr = _check_parity(m, hf, _ids())
    # the lens' last row is the model's own prediction: the top id of the real logits
    ids, probs = tr.logit_lens([T - 1], k=1)
    assert ids.shape == (m.config.n_layer + 1, 1, 1) and ids[-1, 0, 0] == int(np.argmax(tr.logits([T - 1])[0]))
    # learned positions: the rows of the file's own position table; rotary: nothing is added
    if m.config.positions == "learned":
        table = dict(hf.named_parameters())
        key = next(k for k in table if k.endswith(("wpe.weight", "embed_positions.weight")))
        rows = table[key].detach().numpy()[m.config.pos_offset:m.config.pos_offset + T]
        np.testing.assert_allclose(tr.position_embedding_norm, np.linalg.norm(rows, axis=1), rtol=1e-5)
    else:
        assert (tr.position_embedding_norm == 0).all()


def test_points_and_block_norms_equal_transformers_hooks(tmp_path):
    """attn_out/mlp_out norms (block contributions) and tr.point() against transformers' own modules."""
    hf = build("llama")
    m = gptviz.load(str(save(hf, tmp_path / "llama")))
    ids = _ids()
    got = {}
    hooks = [hf.model.layers[l].self_attn.register_forward_hook(
        lambda mod, i, o, l=l: got.__setitem__(("attn", l), o[0][0])) for l in range(2)]
    hooks += [hf.model.layers[l].mlp.register_forward_hook(
        lambda mod, i, o, l=l: got.__setitem__(("mlp", l), o[0])) for l in range(2)]
    with torch.no_grad():
        hs = hf(torch.from_numpy(ids)[None], output_hidden_states=True).hidden_states
    for h in hooks:
        h.remove()
    tr = m.trace_ids(ids)
    resid, attn, mlp = tr.block_contributions()
    for l in range(2):
        np.testing.assert_allclose(attn[l], got[("attn", l)].norm(dim=-1).numpy(), atol=1e-4)
        np.testing.assert_allclose(mlp[l], got[("mlp", l)].norm(dim=-1).numpy(), atol=1e-4)
        np.testing.assert_allclose(tr.point(f"blocks.{l}.attn_out"), got[("attn", l)].numpy(), atol=1e-5)
        np.testing.assert_allclose(tr.point(f"blocks.{l}.resid_pre"), hs[l][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(resid[l], hs[l][0].norm(dim=-1).numpy(), atol=1e-4)
    assert tr.point("blocks.0.attn.k").shape == (2, T, 12) and tr.point("blocks.1.attn.z").shape == (4, T, 12)
    np.testing.assert_allclose(tr.point("embed"), hf.model.embed_tokens.weight[ids].detach().numpy(), atol=1e-6)
    with pytest.raises(KeyError, match="rotary"):
        tr.point("pos_embed")
    with pytest.raises(KeyError, match="no activation point"):
        tr.point("blocks.0.nonsense")


def _as_bin(folder, shards: int):
    """Rewrite a saved folder's weights as transformers 4.x's pytorch_model.bin (or its sharded index)."""
    from safetensors.torch import load_file
    sd = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    if shards == 1:
        torch.save(sd, folder / "pytorch_model.bin")
        return
    keys, weight_map = sorted(sd), {}
    for i in range(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
        part = {k: sd[k] for k in keys[i::shards]}
        torch.save(part, folder / name)
        weight_map.update(dict.fromkeys(part, name))
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.mark.parametrize("layout", ["sharded_safetensors", "bin", "sharded_bin"])
def test_sharded_and_bin_folders(layout, tmp_path):
    hf = build("qwen2")
    folder = tmp_path / layout
    hf.save_pretrained(folder, max_shard_size="40KB" if layout == "sharded_safetensors" else "10GB")
    if layout != "sharded_safetensors":
        _as_bin(folder, 1 if layout == "bin" else 3)
    names = {p.name for p in folder.iterdir()}
    assert ("model.safetensors.index.json" in names) == (layout == "sharded_safetensors")
    assert ("pytorch_model.bin.index.json" in names) == (layout == "sharded_bin")
    assert ("pytorch_model.bin" in names) == (layout == "bin")
    _check_parity(gptviz.load(str(folder)), hf, _ids())


def test_shard_outside_the_folder_refused(tmp_path):
    hf = build("llama")
    folder = tmp_path / "s"
    hf.save_pretrained(folder, max_shard_size="40KB")
    index = folder / "model.safetensors.index.json"
    d = json.loads(index.read_text())
    first = next(iter(d["weight_map"]))
    d["weight_map"][first] = "../elsewhere.safetensors"
    index.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="not a file name in this folder"):
        gptviz.load(str(folder))


EDITS = ("append", "insert", "delete", "replace", "truncate")


@pytest.mark.parametrize("case", ["llama_gqa", "mistral_window", "qwen2_sliding_layer1", "gpt_neox", "phi"])
def test_prefix_cache_equals_fresh_pass_through_loaded_model(case, tmp_path):
    """Random edit sequences through LoadedModel.trace_ids (rotary, GQA, sliding window): every trace
    equals a fresh pass (clear_cache) in logits, every layer's attention and the block norms."""
    kind, overrides, _ = CASES[case]
    folder = save(build(kind, **overrides), tmp_path / case)
    m, fresh = gptviz.load(str(folder)), gptviz.load(str(folder))
    rng = np.random.default_rng(7)
    ids = list(rng.integers(0, VOCAB, 9))
    reused = 0
    for step in range(14):
        edit = EDITS[step % len(EDITS)] if step else "append"
        at = int(rng.integers(0, len(ids) + 1))
        if edit == "append":
            ids += list(rng.integers(0, VOCAB, int(rng.integers(1, 4))))
        elif edit == "insert":
            ids.insert(at, int(rng.integers(0, VOCAB)))
        elif edit == "delete" and len(ids) > 2:
            del ids[min(at, len(ids) - 1)]
        elif edit == "replace":
            ids[min(at, len(ids) - 1)] = int(rng.integers(0, VOCAB))
        else:
            ids = ids[:max(1, len(ids) - 2)]
        a = m.trace_ids(ids)
        reused += m.last_reused
        fresh.clear_cache()
        b = fresh.trace_ids(ids)
        np.testing.assert_allclose(a.logits(), b.logits(), atol=1e-5, err_msg=f"step {step} ({edit})")
        for l in range(m.config.n_layer):
            np.testing.assert_allclose(a.attention(l), b.attention(l), atol=1e-6, err_msg=f"step {step} layer {l}")
        for x, y in zip(a.block_contributions(), b.block_contributions()):
            np.testing.assert_allclose(x, y, atol=1e-5)
    assert reused > 0                       # the cache was used, not only bypassed


def test_dynamic_rope_beyond_max_positions_falls_back_to_a_fresh_pass(tmp_path):
    kind, overrides, _ = CASES["llama_dynamic"]                 # max_position_embeddings 8
    hf = build(kind, **overrides)
    m = gptviz.load(str(save(hf, tmp_path / "dyn")))
    ids = _ids(n=12)
    m.trace_ids(ids[:6])
    assert m.trace_ids(ids[:7]).T == 7 and m.last_reused == 6    # within 8 positions the cache is valid
    tr = m.trace_ids(ids)                                       # 12 > 8: every rotation changes
    assert m.last_reused == 0
    logits, _ = hf_forward(hf, torch.from_numpy(ids))
    np.testing.assert_allclose(tr.logits(), logits.numpy(), atol=TOL)
    short = m.trace_ids(ids[:7])                                # back within 8: not sliced from the long pass
    assert m.last_reused == 0
    np.testing.assert_allclose(short.logits(), hf_forward(hf, torch.from_numpy(ids[:7]))[0].numpy(), atol=TOL)


def test_bf16_file_computes_in_fp32_by_default_or_bf16_when_asked(tmp_path, monkeypatch):
    hf = build("llama")
    with torch.no_grad():                                       # the values a bf16 file holds, kept in fp32
        for p in hf.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    # a bf16 copy is what gets saved; the reference stays fp32 (.to() would also round transformers'
    # rotary inv_freq buffer, which is not in the file)
    copy = build("llama").to(torch.bfloat16)
    copy.load_state_dict({k: v.to(torch.bfloat16) for k, v in hf.state_dict().items()})
    folder = save(copy, tmp_path / "bf16")
    from safetensors import safe_open
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    m = gptviz.load(str(folder))
    assert all(p.dtype == torch.float32 for p in m.model.parameters())
    _check_parity(m, hf, _ids())
    half = gptviz.load(str(folder), dtype="bf16")
    assert all(p.dtype == torch.bfloat16 for p in half.model.parameters())
    a, b = half.trace_ids(_ids()), m.trace_ids(_ids())
    assert a.logits().dtype == np.float32
    np.testing.assert_allclose(a.logits(), b.logits(), atol=0.15)      # bf16 keeps ~3 significant digits
    np.testing.assert_allclose(a.attention(1).sum(-1), 1.0, atol=1e-5)
    # the up-front memory check counts 2 bytes a weight in bf16
    from gptviz.checkpoints import validate
    monkeypatch.setattr(validate, "available_memory", lambda: 1 << 20)
    with pytest.raises(CheckpointError, match=r"parameters as bfloat16\) but only"):
        gptviz.load(str(folder), dtype="bf16")
    with pytest.raises(CheckpointError, match="dtype 'int8' is not supported; supported: fp32, bf16"):
        gptviz.load(str(folder), dtype="int8")


def test_config_api_for_the_views(tmp_path):
    m = gptviz.load(str(save(build("qwen2", use_sliding_window=True, sliding_window=4, max_window_layers=1),
                             tmp_path / "q")))
    c = m.config
    assert (c.family, c.model_type, c.n_head, c.n_kv_head, c.head_dim, c.positions) == ("llama", "qwen2", 6, 2, 8,
                                                                                         "rotary")
    assert (c.block_size, c.vocab_size, c.n_layer, c.n_embd) == (64, VOCAB, 2, 48)
    assert [c.window(l) for l in range(2)] == [None, 4]
    assert (c.norm, c.mlp, c.tied, c.parallel_residual, c.post_ln) == ("rmsnorm", "swiglu", True, False, False)
    assert [c.kv_head_of(h) for h in range(6)] == [0, 0, 0, 1, 1, 1]
    n = sum(p.numel() for p in build("qwen2").parameters())              # transformers counts tied once too
    assert m.n_params == n
    o = gptviz.load(str(save(build("opt", do_layer_norm_before=False, word_embed_proj_dim=32), tmp_path / "o")))
    assert (o.config.post_ln, o.config.norm, o.config.mlp, o.config.positions) == (True, "layernorm", "dense",
                                                                                  "learned")
    g = gptviz.load(str(save(build("gemma"), tmp_path / "g"))).config
    assert (g.norm, g.mlp, g.embed_scale) == ("rmsnorm_1+w", "geglu", pytest.approx(48 ** 0.5))


def test_no_tokenizer_for_a_non_gpt2_family_is_said_plainly(tmp_path):
    m = gptviz.load(str(save(build("llama"), tmp_path / "llama")))
    assert any("no tokenizer" in w and "llama" in w for w in m.warnings)
    with pytest.raises(ValueError, match="no tokenizer.json beside this llama checkpoint"):
        m.trace("hello")
    assert m.trace_ids([1, 2, 3]).T == 3


def test_unimplemented_options_refused_by_name(tmp_path):
    folder = save(build("llama"), tmp_path / "l")
    d = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**d, "rope_parameters": {"rope_type": "longrope",
                                                                             "rope_theta": 1e4}}))
    with pytest.raises(CheckpointError, match=r"rope_type 'longrope' is not supported; supported: default"):
        gptviz.load(str(folder))
    (folder / "config.json").write_text(json.dumps({**d, "model_type": "mamba"}))
    with pytest.raises(CheckpointError, match=r"model_type 'mamba' is not supported; supported: .*gpt_neox"):
        gptviz.load(str(folder))


def test_inspect_dtype_flag_and_no_tokenizer_error(hf_folder, tmp_path, capsys):
    from gptviz.cli import main
    assert main(["inspect", "--model", str(hf_folder), "--prompt", "Hello there", "--json", "--top-k", "3"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert main(["inspect", "--model", str(hf_folder), "--prompt", "Hello there", "--json", "--top-k", "3",
                 "--dtype", "bf16"]) == 0
    half = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in half["tokens"]] == [t["id"] for t in full["tokens"]]
    for a, b in zip(half["top_k"], full["top_k"]):
        assert abs(a["prob"] - b["prob"]) < 0.02
    folder = save(build("llama"), tmp_path / "llama")
    capsys.readouterr()                                   # transformers' save progress bar, not ours
    assert main(["inspect", "--model", str(folder), "--prompt", "hi"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no tokenizer.json beside this llama" in err[0]


def test_backbone_with_mixed_prefixes_refused_by_the_first_missing_name(tmp_path):
    # transformers' files put lm_head beside "model.…" (no warning, tested above); a file where only some
    # backbone names carry the prefix is refused, naming a weight it lacks, and nothing is half-loaded
    from safetensors.torch import load_file, save_file
    folder = save(build("llama"), tmp_path / "llama")
    sd = load_file(folder / "model.safetensors")
    mixed = {(k.removeprefix("model.") if k.startswith("model.embed") else k): v for k, v in sd.items()}
    save_file(mixed, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"model\.safetensors: missing weight model\.embed_tokens\.weight "
                                              r"\(expected shape \[101, 48\]\)"):
        gptviz.load(str(folder))
