"""gptviz.models against transformers: tiny random checkpoints saved by transformers' own classes,
loaded by our loader, compared with transformers' eager forward (logits at every position, every
layer's attention, the residual stream and the branch outputs), for the current and the old
config.json key style; the prefix cache against a fresh pass; refusals of what is not implemented."""
from __future__ import annotations

import json

import pytest
import torch

from gptviz.models import from_hf_config, load_folder, trim
from tests.families import VOCAB, build, hf_forward, old_style, save

TOL = 1e-4
T = 12          # longer than every window below (5), so the band is exercised

# case -> (family kind in tests/families.py, config overrides, HF module paths of attention / MLP)
NEOX = ("gpt_neox.layers.{l}.attention", "gpt_neox.layers.{l}.mlp")
NEO = ("transformer.h.{l}.attn", "transformer.h.{l}.mlp")
LLAMA = ("model.layers.{l}.self_attn", "model.layers.{l}.mlp")
OPT = ("model.decoder.layers.{l}.self_attn", "model.decoder.layers.{l}.fc2")
CASES = {
    "gpt2": ("gpt2", {}, NEO),
    "gpt2_unscaled_relu": ("gpt2", dict(scale_attn_weights=False, activation_function="relu", n_inner=80), NEO),
    "gpt_neox": ("gpt_neox", {}, NEOX),
    "gpt_neox_sequential": ("gpt_neox", dict(use_parallel_residual=False, attention_bias=False, rope_parameters={
        "rope_type": "default", "rope_theta": 777.0, "partial_rotary_factor": 0.25}), NEOX),
    "llama_gqa": ("llama", {}, LLAMA),
    "llama_bias_tied": ("llama", dict(attention_bias=True, mlp_bias=True, tie_word_embeddings=True), LLAMA),
    "llama_linear": ("llama", dict(rope_parameters={"rope_type": "linear", "rope_theta": 500.0, "factor": 3.0}), LLAMA),
    # max_position_embeddings 8 < T: the NTK base grows with the prompt
    "llama_dynamic": ("llama", dict(max_position_embeddings=8, rope_parameters={
        "rope_type": "dynamic", "rope_theta": 500.0, "factor": 2.0}), LLAMA),
    "llama3_rope": ("llama", dict(rope_parameters={
        "rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 32}), LLAMA),
    "llama_yarn": ("llama", dict(rope_parameters={
        "rope_type": "yarn", "rope_theta": 500.0, "factor": 4.0, "original_max_position_embeddings": 16}), LLAMA),
    "mistral_window": ("mistral", {}, LLAMA),
    "qwen2_bias": ("qwen2", {}, LLAMA),
    "qwen2_sliding_layer1": ("qwen2", dict(use_sliding_window=True, sliding_window=4, max_window_layers=1), LLAMA),
    "qwen3_qk_norm": ("qwen3", {}, LLAMA),
    "qwen3_bias": ("qwen3", dict(attention_bias=True), LLAMA),
    "gemma": ("gemma", {}, LLAMA),
    "gpt_neo": ("gpt_neo", {}, NEO),
    "gpt_neo_local_first": ("gpt_neo", dict(attention_types=[[["local", "global"], 1]], window_size=3), NEO),
    "gptj": ("gptj", {}, NEO),
    "phi": ("phi", {}, LLAMA),
    "phi_qk_norm_gqa": ("phi", dict(qk_layernorm=True, num_key_value_heads=2), LLAMA),
    "opt": ("opt", {}, OPT),
    # OPT-350m's layout: post-LN, no final norm, 32-wide embeddings projected in and out of the 48-wide stream
    "opt_post_ln_projected": ("opt", dict(do_layer_norm_before=False, word_embed_proj_dim=32), OPT),
}


def _hf_hooks(hf, paths, n_layer):
    """Forward hooks on transformers' attention and MLP modules: their outputs per layer."""
    got = {}
    handles = []
    for kind, pattern in zip(("attn_out", "mlp_out"), paths):
        for l in range(n_layer):
            def hook(mod, inp, out, key=f"blocks.{l}.{kind}"):
                got[key] = out[0] if isinstance(out, tuple) else out
            handles.append(hf.get_submodule(pattern.format(l=l)).register_forward_hook(hook))
    return got, handles


def _ids(seed=1, n=T):
    return torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(seed))


def _compare(case, folder_style, tmp_path):
    kind, overrides, paths = CASES[case]
    hf = build(kind, **overrides)
    folder = save(hf, tmp_path / case)
    if folder_style == "old":
        old = old_style(folder)
        assert "rope_parameters" not in old
    ours = load_folder(folder)
    ids = _ids()
    L = ours.cfg.n_layer
    got, handles = _hf_hooks(hf, paths, L)
    try:
        with torch.no_grad():
            out_hf = hf(ids[None], output_attentions=True, output_hidden_states=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        out = ours(ids[None])
    diffs = {"logits": (out.logits[0] - out_hf.logits[0]).abs().max().item()}
    for l in range(L):
        att = ours.pattern(out, l)[0]                                     # (H, T, T)
        diffs[f"attn{l}"] = (att - out_hf.attentions[l][0]).abs().max().item()
        # hidden_states[l] is block l's input for every family here
        diffs[f"resid_pre{l}"] = (out.points[f"blocks.{l}.resid_pre"] - out_hf.hidden_states[l]).abs().max().item()
        for k in ("attn_out", "mlp_out"):
            want = got[f"blocks.{l}.{k}"].reshape(out.points[f"blocks.{l}.{k}"].shape)
            diffs[f"{k}{l}"] = (out.points[f"blocks.{l}.{k}"] - want).abs().max().item()
    return diffs, ours, out


@pytest.mark.parametrize("style", ["current", "old"])
@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_transformers(case, style, tmp_path):
    diffs, ours, out = _compare(case, style, tmp_path)
    print(f"{case} ({style}): max |diff| {max(diffs.values()):.2e}")   # shown with -s
    bad = {k: v for k, v in diffs.items() if not v <= TOL}
    assert not bad, f"{case} ({style} config): {bad}"
    # the activation points the views read, with the shapes DESIGN.md promises
    cfg = ours.cfg
    for l in range(cfg.n_layer):
        assert out.points[f"blocks.{l}.attn.q"].shape == (1, cfg.n_head, T, cfg.head_dim)
        assert out.points[f"blocks.{l}.attn.k"].shape == (1, cfg.n_kv_head, T, cfg.head_dim)
        assert out.points[f"blocks.{l}.attn.z"].shape == (1, cfg.n_head, T, cfg.head_dim)
    assert ("pos_embed" in out.points) == (cfg.positions == "learned")
    for name in ("embed", "pos_embed", "blocks.0.resid_pre", "blocks.1.resid_post", "final_norm"):
        if name in out.points:
            assert out.points[name].shape[:2] == (1, T), name


def test_old_style_config_reads_the_same_numbers(tmp_path):
    """Pythia's own 4.x keys: rotary_pct / rotary_emb_base instead of rope_parameters."""
    hf = build("gpt_neox")
    folder = save(hf, tmp_path / "neox")
    new = from_hf_config(json.loads((folder / "config.json").read_text()))
    old = from_hf_config(old_style(folder))
    assert (old.rotary_dim, old.rope["rope_theta"]) == (new.rotary_dim, new.rope["rope_theta"]) == (6, 10000.0)
    d = json.loads((folder / "config.json").read_text())
    d.pop("rotary_pct")
    assert from_hf_config(d).rotary_dim == 3           # NeoX's default rotary_pct is 0.25 (12 * 0.25)


@pytest.mark.parametrize("case", ["gpt_neox", "llama_gqa", "mistral_window", "gpt_neo", "opt"])
def test_prefix_cache_equals_a_fresh_pass(case, tmp_path):
    """Random edits: keep the cache of the shared prefix, run only the new suffix, compare with a fresh
    pass over the edited prompt (logits, every point, every layer's pattern rows)."""
    kind, overrides, _ = CASES[case]
    ours = load_folder(save(build(kind, **overrides), tmp_path / case))
    g = torch.Generator().manual_seed(7)
    ids = _ids(3, 9)
    with torch.no_grad():
        cache = ours(ids[None]).cache
        for step in range(6):
            n = int(torch.randint(0, len(ids) + 1, (1,), generator=g))       # keep ids[:n], then type new ones
            new = torch.randint(0, VOCAB, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g)
            edited = torch.cat([ids[:n], new])
            fresh = ours(edited[None])
            cont = ours(new[None], past=trim(cache, n) if n else None)
            assert cont.offset == n
            assert (cont.logits[0] - fresh.logits[0, n:]).abs().max() <= TOL, (case, step, n)
            for name, t in cont.points.items():
                want = fresh.points[name]
                want = want[:, n:] if want.ndim == 3 else want[:, :, n:]           # (B, T, C) or (B, h, T, hs)
                assert (t - want).abs().max() <= TOL, (case, step, name)
            for l in range(ours.cfg.n_layer):
                assert (ours.pattern(cont, l) - ours.pattern(fresh, l)[:, :, n:]).abs().max() <= TOL
            ids, cache = edited, fresh.cache


def test_head_ablation_hook_equals_transformers_with_a_hook(tmp_path):
    """A hook replacing blocks.0.attn.z (head 1 zeroed) equals transformers with o_proj's input zeroed."""
    hf = build("llama")
    ours = load_folder(save(hf, tmp_path / "llama"))
    ids = _ids()
    hs = ours.cfg.head_dim

    def zero_input(mod, args):
        x = args[0].clone()
        x[..., hs:2 * hs] = 0
        return (x,)

    h = hf.model.layers[0].self_attn.o_proj.register_forward_pre_hook(zero_input)
    try:
        want, _ = hf_forward(hf, ids)
    finally:
        h.remove()

    def zero_head(z):                                                          # (B, nh, T, hs)
        z = z.clone()
        z[:, 1] = 0
        return z

    with torch.no_grad():
        got = ours(ids[None], hooks={"blocks.0.attn.z": zero_head}).logits[0]
        plain = ours(ids[None]).logits[0]
    assert (got - want).abs().max() <= TOL
    assert (plain - want).abs().max() > 1e-2          # the ablation did change the numbers


def test_last_position_logits_and_kept_points(tmp_path):
    ours = load_folder(save(build("phi"), tmp_path / "phi"))
    ids = _ids()[None]
    with torch.no_grad():
        full = ours(ids)
        last = ours(ids, logits="last", keep=lambda name: name.endswith(".attn.q"))
        none = ours(ids, logits="none")
    assert last.logits.shape == (1, 1, VOCAB) 
    assert (last.logits[0, 0] - full.logits[0, -1]).abs().max() <= 1e-5      # one row vs T rows: rounding only
    assert sorted(last.points) == ["blocks.0.attn.q", "blocks.1.attn.q"] and none.logits is None
    with pytest.raises(ValueError, match="logits='some'"):
        ours(ids, logits="some")


@pytest.mark.parametrize("change, words", [
    ({"model_type": "bert"}, ["'bert'", "gpt_neox", "llama", "qwen3"]),
    ({"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4}}, ["'longrope'", "llama3", "yarn"]),
    ({"rope_scaling": {"type": "su", "factor": 2.0}}, ["'su'", "dynamic"]),
    ({"alibi": True}, ["alibi", "rotary"]),
    ({"hidden_act": "xielu"}, ["'xielu'", "silu"]),
    ({"rope_parameters": {"rope_type": "linear", "rope_theta": 1e4}}, ["'linear'", "'factor'"]),
])
def test_unsupported_configs_are_refused_by_name(change, words, tmp_path):
    d = json.loads((save(build("llama"), tmp_path / "l") / "config.json").read_text())
    d.update(change)
    with pytest.raises(ValueError) as err:
        from_hf_config(d)
    for w in words:
        assert w in str(err.value)


def test_gptj_without_rotary_dim_and_mismatched_weights_are_refused(tmp_path):
    d = json.loads((save(build("gptj"), tmp_path / "j") / "config.json").read_text())
    with pytest.raises(ValueError, match="rotary_dim"):
        from_hf_config({**d, "rotary_dim": None})
    folder = tmp_path / "j"
    (folder / "config.json").write_text(json.dumps({**d, "n_inner": 64}))     # the file holds 96-wide MLPs
    shapes = r"transformer\.h\.0\.mlp\.fc_in\.bias: checkpoint shape \(96,\) but config gives \(64,\)"
    with pytest.raises(ValueError, match=shapes):
        load_folder(folder)
    from safetensors.torch import load_file, save_file
    sd = load_file(folder / "model.safetensors")
    del sd["transformer.h.1.attn.q_proj.weight"]
    save_file(sd, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"missing \['transformer\.h\.1\.attn\.q_proj\.weight'\]"):
        load_folder(folder)


def test_bf16_weights_follow_transformers_bf16(tmp_path):
    """Kept in bf16, Gemma's sqrt(d) is rounded to bf16 first (6.9375 for d=48, not 6.9282) as in
    transformers; the logits stay near transformers' own bf16 forward."""
    hf = build("gemma")
    ours = load_folder(save(hf, tmp_path / "g"), dtype=torch.bfloat16)
    hf = hf.to(torch.bfloat16)
    ids = _ids()
    with torch.no_grad():
        want = hf(ids[None], output_hidden_states=True, use_cache=False)
        out = ours(ids[None])
    assert out.points["embed"].dtype == torch.bfloat16
    assert torch.equal(out.points["embed"], want.hidden_states[0])
    raw = hf.model.embed_tokens.weight[ids].float()
    assert torch.allclose(out.points["embed"][0].float(), (raw * 6.9375).bfloat16().float())
    # we take attention in fp32 where transformers stays in bf16: within 1% of the largest logit
    assert (out.logits.float() - want.logits.float()).abs().max() < 0.01 * want.logits.float().abs().max()


def test_sharded_safetensors_and_old_bin_files_load_the_same_model(tmp_path):
    """A sharded model.safetensors.index.json, and a 4.x-style pytorch_model.bin saved from the bare
    trunk (keys without "model.", as facebook/opt-* are) with the causal-mask buffers of that era."""
    hf = build("opt", do_layer_norm_before=False, word_embed_proj_dim=32)
    ids = _ids()
    want, _ = hf_forward(hf, ids)
    sharded = tmp_path / "sharded"
    hf.save_pretrained(sharded, max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file() and not (sharded / "model.safetensors").exists()
    old = tmp_path / "bin"
    old.mkdir()
    sd = {k.removeprefix("model."): v.clone() for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    sd["decoder.layers.0.self_attn.bias"] = torch.ones(1)      # not an OPT weight: must be refused
    torch.save(sd, old / "pytorch_model.bin")
    (old / "config.json").write_text((sharded / "config.json").read_text())
    with pytest.raises(ValueError, match=r"unexpected \['decoder\.layers\.0\.self_attn\.bias'\]"):
        load_folder(old)
    del sd["decoder.layers.0.self_attn.bias"]
    torch.save(sd, old / "pytorch_model.bin")
    for folder in (sharded, old):
        with torch.no_grad():
            got = load_folder(folder)(ids[None]).logits[0]
        assert (got - want).abs().max() <= TOL, folder.name


def test_old_buffers_in_a_bin_file_are_not_weights(tmp_path):
    """GPT-NeoX .bin files of transformers 4.x carry attention.bias / masked_bias / rotary_emb.inv_freq."""
    hf = build("gpt_neox")
    sd = {k: v.clone() for k, v in hf.state_dict().items()}
    for l in range(2):
        sd[f"gpt_neox.layers.{l}.attention.bias"] = torch.tril(torch.ones(64, 64, dtype=torch.bool))[None, None]
        sd[f"gpt_neox.layers.{l}.attention.masked_bias"] = torch.tensor(-1e9)
        sd[f"gpt_neox.layers.{l}.attention.rotary_emb.inv_freq"] = torch.ones(3)
    (tmp_path / "n").mkdir()
    torch.save(sd, tmp_path / "n" / "pytorch_model.bin")
    hf.config.to_json_file(tmp_path / "n" / "config.json")
    ids = _ids()
    want, _ = hf_forward(hf, ids)
    with torch.no_grad():
        assert (load_folder(tmp_path / "n")(ids[None]).logits[0] - want).abs().max() <= TOL


@pytest.mark.parametrize("bias", [False, True])
def test_nanogpt_layout_equals_an_independent_reference(bias):
    """nanoGPT's nn.Linear (out, in) weights, bias=False dropping LayerNorm biases too, against the
    plain-torch GPT-2 of tests/reference.py (exact-erf GELU, as nanoGPT's nn.GELU)."""
    from gptviz.models import build as build_model, from_nanogpt_args, load_state
    from tests.reference import nanogpt_state, reference_forward
    sd, args = nanogpt_state(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=300, bias=bias)
    ours = load_state(build_model(from_nanogpt_args(args)), sd, hf_layout=False)
    ids = _ids(n=T) * 2
    want_logits, want_att = reference_forward(sd, 2, 4, ids)
    with torch.no_grad():
        out = ours(ids[None])
    assert (out.logits[0] - want_logits).abs().max() <= TOL
    for l in range(2):
        assert (ours.pattern(out, l)[0] - want_att[l]).abs().max() <= TOL


def test_dynamic_rope_cache_is_refused_once_the_base_grows(tmp_path):
    """Dynamic NTK rescales every rotation once the prompt outgrows max_position_embeddings (8 here):
    within it a cached prefix equals a fresh pass; beyond it the continuation is refused, not wrong."""
    kind, overrides, _ = CASES["llama_dynamic"]
    hf = build(kind, **overrides)
    ours = load_folder(save(hf, tmp_path / "dyn"))
    ids = _ids(n=10)
    with torch.no_grad():
        head = ours(ids[None, :6])
        cont = ours(ids[None, 6:8], past=head.cache)
        assert (cont.logits[0] - ours(ids[None, :8]).logits[0, 6:]).abs().max() <= TOL
        with pytest.raises(ValueError, match="dynamic rope.*max_position_embeddings 8"):
            ours(ids[None, 6:10], past=head.cache)
        want, _ = hf_forward(hf, ids)                         # a fresh pass past the limit still matches
        assert (ours(ids[None]).logits[0] - want).abs().max() <= TOL


def test_zero_window_is_refused(tmp_path):
    d = json.loads((save(build("mistral"), tmp_path / "m") / "config.json").read_text())
    with pytest.raises(ValueError, match="window 0 must be a positive"):
        from_hf_config({**d, "sliding_window": 0})
