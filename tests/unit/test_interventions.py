"""Head and MLP ablation (m.trace(..., ablate=, ablate_mlp=, mode=)) against transformers' own models with
forward hooks doing the same thing: zeroing (or replacing by its mean over the positions) the slice of the
attention output projection's input a head writes, and the MLP module's output. Every family's tiny random
checkpoint (tests/families.py); the prefix cache with an ablation against a fresh ablated pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gptviz
from tests.families import VOCAB, build, save

TOL = 1e-4
T = 12

# transformers' module paths, written out here (not read from gptviz): output projection of layer {}, MLP of layer {}
HF_PATHS = {
    "gpt2": ("transformer.h.{}.attn.c_proj", "transformer.h.{}.mlp"),
    "llama": ("model.layers.{}.self_attn.o_proj", "model.layers.{}.mlp"),
    "gpt_neox": ("gpt_neox.layers.{}.attention.dense", "gpt_neox.layers.{}.mlp"),
    "gpt_neo": ("transformer.h.{}.attn.attention.out_proj", "transformer.h.{}.mlp"),
    "gptj": ("transformer.h.{}.attn.out_proj", "transformer.h.{}.mlp"),
    "phi": ("model.layers.{}.self_attn.dense", "model.layers.{}.mlp"),
    "opt": ("model.decoder.layers.{}.self_attn.out_proj", "model.decoder.layers.{}.fc2"),
    "gemma": ("model.layers.{}.self_attn.o_proj", "model.layers.{}.mlp"),
}


def _ids(seed=1, n=T):
    return np.random.default_rng(seed).integers(0, VOCAB, n)


def hf_ablated(hf, kind, ids, heads=(), mlps=(), mode="zero", n_head=4):
    """transformers' logits (T, V) and attentions with the ablation done by forward hooks."""
    proj, mlp = HF_PATHS[kind]
    handles = []
    by_layer = {}
    for l, h in heads:
        by_layer.setdefault(l, []).append(h)
    for l, hs in by_layer.items():
        def pre(mod, args, hs=hs):
            x = args[0].clone()                                    # (B, T, nh*hd)
            d = x.shape[-1] // n_head
            for h in hs:
                sl = x[..., h * d:(h + 1) * d]
                x[..., h * d:(h + 1) * d] = sl.mean(dim=1, keepdim=True) if mode == "mean" else 0.0
            return (x,) + tuple(args[1:])
        handles.append(hf.get_submodule(proj.format(l)).register_forward_pre_hook(pre))
    for l in mlps:
        def post(mod, args, out):
            pos = out.dim() - 2         # OPT runs fc2 on the flattened (B*T, C) stream
            return out.mean(dim=pos, keepdim=True).expand_as(out).clone() if mode == "mean" else torch.zeros_like(out)
        handles.append(hf.get_submodule(mlp.format(l)).register_forward_hook(post))
    try:
        with torch.no_grad():
            out = hf(torch.tensor(np.asarray(ids))[None], output_attentions=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return out.logits[0].numpy(), [a[0].numpy() for a in out.attentions]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    made = {}

    def get(kind, **overrides):
        key = (kind, tuple(sorted(overrides.items())))
        if key not in made:
            hf = build(kind, **overrides)
            made[key] = hf, gptviz.load(str(save(hf, tmp_path_factory.mktemp(kind))))
        return made[key]
    return get


@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("kind", list(HF_PATHS))
def test_ablation_equals_transformers_hooks(models, kind, mode):
    hf, m = models(kind)
    ids = _ids()
    heads, mlps = [(0, 1), (1, 3), (1, 0)], [0]
    ref_logits, ref_att = hf_ablated(hf, kind, ids, heads, mlps, mode)
    clean_logits, _ = hf_ablated(hf, kind, ids)
    tr = m.trace_ids(ids, ablate=heads, ablate_mlp=mlps, mode=mode)
    assert np.abs(ref_logits - clean_logits).max() > 1e-2        # the ablation changes the output
    np.testing.assert_allclose(tr.logits(), ref_logits, atol=TOL, rtol=0)
    for l, a in enumerate(ref_att):                              # layer 1's pattern reads layer 0's ablated output
        np.testing.assert_allclose(tr.attention(l), a, atol=TOL, rtol=0, err_msg=f"layer {l}")
    z = tr.point("blocks.1.attn.z")                               # (nh, T, hs): the recorded z is the ablated one
    if mode == "zero":
        assert (z[3] == 0).all() and (z[0] == 0).all() and np.abs(z[1]).max() > 0
    else:
        np.testing.assert_allclose(z[3], np.broadcast_to(z[3].mean(0), z[3].shape), atol=1e-6)
    assert tr.ablation is not None and "L1.H3" in tr.ablation.describe()
    # the clean trace afterwards is transformers' clean forward again
    np.testing.assert_allclose(m.trace_ids(ids).logits(), clean_logits, atol=TOL, rtol=0)


def test_neox_sequential_and_llama_mlp_only(models):
    for kind, over in (("gpt_neox", dict(use_parallel_residual=False)), ("llama", {})):
        hf, m = models(kind, **over)
        ids = _ids(3)
        ref, _ = hf_ablated(hf, kind, ids, mlps=[1], mode="mean")
        np.testing.assert_allclose(m.trace_ids(ids, ablate_mlp=[1], mode="mean").logits(), ref, atol=TOL, rtol=0)


def _views(tr):
    resid, attn, mlp = tr.block_contributions()
    return dict(logits=tr.logits(), resid=resid, attn=attn, mlp=mlp, input=tr.input_norm,
                **{f"att{l}": tr.attention(l) for l in range(tr.n_layer)},
                **{f"r{l}": tr.residual(l) for l in range(tr.n_layer + 1)})


@pytest.mark.parametrize("kind", ["gpt2", "llama", "gpt_neox"])
def test_prefix_cache_with_ablation_equals_fresh_pass(models, kind, tmp_path):
    hf, m = models(kind)
    fresh = m.fork()
    rng = np.random.default_rng(5)
    ids = _ids(7, 10)
    ab = dict(ablate=[(1, 2)], ablate_mlp=[1], mode="zero")
    m.trace_ids(ids, **ab)
    for step in range(6):
        cut = int(rng.integers(3, len(ids)))
        ids = np.concatenate([ids[:cut], rng.integers(0, VOCAB, int(rng.integers(1, 4)))])[:20]
        mode = "mean" if step % 3 == 2 else "zero"
        got = m.trace_ids(ids, ablate=ab["ablate"], ablate_mlp=ab["ablate_mlp"], mode=mode)
        assert m.last_start_layer == 1                          # blocks below the first ablated layer are not rerun
        if mode == "zero" and step % 3 != 0:
            assert m.last_reused > 0                            # the ablated prefix is reused
        fresh.clear_cache()
        want = fresh.trace_ids(ids, ablate=ab["ablate"], ablate_mlp=ab["ablate_mlp"], mode=mode)
        g, w = _views(got), _views(want)
        for k in w:
            np.testing.assert_allclose(g[k], w[k], atol=1e-5, rtol=0, err_msg=f"{k} after edit {step}")
        ref, _ = hf_ablated(hf, kind, ids, [(1, 2)], [1], mode)
        np.testing.assert_allclose(got.logits(), ref, atol=TOL, rtol=0)
        if step % 2:                                            # a clean trace in between leaves both caches right
            clean, _ = hf_ablated(hf, kind, ids)
            np.testing.assert_allclose(m.trace_ids(ids).logits(), clean, atol=TOL, rtol=0)


def test_bad_ablation_specs_are_refused_by_name(models):
    _, m = models("gpt2")
    for kw, msg in ((dict(ablate=[(2, 0)]), "out of range"), (dict(ablate=[(0, 4)]), "heads 0..3"),
                    (dict(ablate=[(0,)]), "(layer, head) pair"), (dict(ablate_mlp=[5]), "ablate_mlp layer 5"),
                    (dict(ablate=[(0, 0)], mode="half"), "'zero' or 'mean'")):
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            m.trace_ids(_ids(), **kw)


def test_cli_ablation_and_attribution_json(hf_model, hf_folder):
    """gptviz inspect --ablate/--ablate-mlp/--ablate-mode/--attribution as a user runs it, against transformers' hooks."""
    import json
    from tests.unit.test_cli import PROMPT, run
    r = run("inspect", "--model", str(hf_folder), "--prompt", PROMPT, "--json", "--top-k", "3",
            "--ablate", "0.1, 1.3", "--ablate-mlp", "0", "--ablate-mode", "mean", "--attribution", "top")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    ids = np.array([t["id"] for t in data["tokens"]])
    logits, _ = hf_ablated(hf_model, "gpt2", ids, [(0, 1), (1, 3)], [0], "mean")
    probs = torch.softmax(torch.from_numpy(logits[-1]).double(), -1).numpy()
    top = np.argsort(-probs)[:3]
    assert [t["id"] for t in data["top_k"]] == top.tolist()
    np.testing.assert_allclose([t["prob"] for t in data["top_k"]], probs[top], atol=1e-5)
    assert data["ablation"] == {"heads": [[0, 1], [1, 3]], "mlps": [0], "mode": "mean"}
    a = data["attribution"]
    assert a["token"] == int(top[0]) and abs(a["logit"] - logits[-1, top[0]]) < TOL
    parts = a["embed"] + np.sum(a["heads"]) + np.sum(a["attn_bias"]) + np.sum(a["mlps"]) + a["bias"]
    assert abs(parts - logits[-1, top[0]]) < TOL and np.array(a["heads"]).shape == (2, 4)
    r = run("inspect", "--model", str(hf_folder), "--prompt", PROMPT, "--attribution", " the")   # text: one token
    assert r.returncode == 0, r.stderr
    assert "direct logit attribution of '␣the' [262]" in r.stdout


@pytest.mark.parametrize("args, msg", [
    (("--ablate", "0.x"), "--ablate: head '0.x': expected LAYER.HEAD"),
    (("--ablate", "0.1,"), "--ablate: head '': expected LAYER.HEAD"),
    (("--ablate-mlp", "one"), "--ablate-mlp: layer 'one': expected a layer number"),
    (("--ablate", "2.0"), "ablate head (2, 0) out of range: layers 0..1, heads 0..3"),
    (("--ablate-mlp", "7"), "ablate_mlp layer 7 out of range 0..1"),
    (("--ablate", "0.0", "--ablate-mode", "half"), "invalid choice: 'half'"),
    (("--attribution", " the cat"), "--attribution ' the cat' is 2 tokens"),
    (("--attribution", "99999999"), "token id 99999999 out of range"),
])
def test_cli_bad_specs_exit_2_with_one_error_line(hf_folder, args, msg):
    from tests.unit.test_cli import run
    r = run("inspect", "--model", str(hf_folder), "--prompt", "The cat", *args)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], r.stderr
