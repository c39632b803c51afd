"""Activation patching (gptviz.core.patching.patch_sweep) against transformers' own models with forward hooks
replacing the residual stream entering a block at one position, or one head's slice of the output projection's
input, by prompt B's; cancel stops within one run; progress counts every run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gptviz
from gptviz.core.patching import patch_sweep
from tests.families import VOCAB, build, save

TOL = 1e-4
T = 8
HF = {"gpt2": ("transformer.h.{}", "transformer.h.{}.attn.c_proj"),
      "llama": ("model.layers.{}", "model.layers.{}.self_attn.o_proj"),
      "gpt_neox": ("gpt_neox.layers.{}", "gpt_neox.layers.{}.attention.dense")}


def _prompts():
    rng = np.random.default_rng(3)
    a = rng.integers(0, VOCAB, T)
    b = a.copy()
    b[[1, 4]] = (a[[1, 4]] + 7) % VOCAB          # B differs from A at positions 1 and 4 only
    return a, b


def _metric(logits, tok, minus):
    return float(logits[0, -1, tok] - logits[0, -1, minus])


def hf_resid_patch(hf, kind, a, b, l, p, tok, minus):
    with torch.no_grad():
        hb = hf(torch.from_numpy(b)[None], output_hidden_states=True).hidden_states[l]   # block l's input

    def pre(mod, args):
        x = args[0].clone()
        x[:, p] = hb[:, p]
        return (x,) + tuple(args[1:])
    hook = hf.get_submodule(HF[kind][0].format(l)).register_forward_pre_hook(pre)
    try:
        with torch.no_grad():
            return _metric(hf(torch.tensor(a)[None]).logits, tok, minus)
    finally:
        hook.remove()


def hf_head_patch(hf, kind, a, b, l, h, tok, minus, n_head=4):
    mod = hf.get_submodule(HF[kind][1].format(l))
    got = {}
    hook = mod.register_forward_pre_hook(lambda m_, args: got.__setitem__("x", args[0].clone()))
    with torch.no_grad():
        hf(torch.from_numpy(b)[None])
    hook.remove()

    def pre(m_, args):
        x = args[0].clone()
        d = x.shape[-1] // n_head
        x[..., h * d:(h + 1) * d] = got["x"][..., h * d:(h + 1) * d]
        return (x,) + tuple(args[1:])
    hook = mod.register_forward_pre_hook(pre)
    try:
        with torch.no_grad():
            return _metric(hf(torch.tensor(np.asarray(a))[None]).logits, tok, minus)
    finally:
        hook.remove()


@pytest.mark.parametrize("kind", list(HF))
def test_patch_cells_equal_transformers_hooks(kind, tmp_path):
    hf = build(kind)
    m = gptviz.load(str(save(hf, tmp_path / kind)))
    a, b = _prompts()
    with torch.no_grad():
        la, lb = hf(torch.from_numpy(a)[None]).logits, hf(torch.from_numpy(b)[None]).logits
    tok, minus = int(la[0, -1].argmax()), int(la[0, -1].argmin())
    seen = []
    r = patch_sweep(m, a, b, tok, minus, progress=lambda d, n: seen.append((d, n)))
    L, H = m.config.n_layer, m.config.n_head
    assert r.resid.shape == (L + 1, T) and r.heads.shape == (L, H) and not r.cancelled
    assert r.done == r.total == (L + 1) * T + L * H and seen[-1] == (r.total, r.total) and len(seen) == r.total
    assert abs(r.base - _metric(la, tok, minus)) < TOL and abs(r.source - _metric(lb, tok, minus)) < TOL
    assert abs(r.resid[0, 1] - r.base) > 1e-3 and np.nanmax(np.abs(r.heads - r.base)) > 1e-3   # patches matter
    for l, p in [(0, 1), (0, 4), (1, 4), (1, 7), (1, 0), (0, 7)]:
        assert abs(r.resid[l, p] - hf_resid_patch(hf, kind, a, b, l, p, tok, minus)) < TOL, (l, p)
    # where A and B have the same token, patching the embeddings changes nothing; the last row is B's own output
    # at the last position and A's elsewhere
    np.testing.assert_allclose(r.resid[0, [0, 2, 3, 5, 6, 7]], r.base, atol=1e-5)
    assert abs(r.resid[L, T - 1] - r.source) < 1e-5 and np.allclose(r.resid[L, :T - 1], r.base)
    for l, h in [(0, 0), (0, 3), (1, 2)]:
        assert abs(r.heads[l, h] - hf_head_patch(hf, kind, a, b, l, h, tok, minus)) < TOL, (l, h)
    np.testing.assert_allclose(r.normalized()[L, T - 1], 1.0, atol=1e-5)
    assert m.trace_ids(a).T == T and m.last_reused == T        # A's cache is left in place


def test_cancel_stops_within_one_run(tmp_path):
    m = gptviz.load(str(save(build("gpt2"), tmp_path / "g")))
    a, b = _prompts()
    runs = []
    r = patch_sweep(m, a, b, 3, progress=lambda d, n: runs.append(d), cancelled=lambda: len(runs) >= 5)
    assert r.cancelled and r.done == 5 and runs == [1, 2, 3, 4, 5]
    assert np.isfinite(r.resid[0, :5]).all() and np.isnan(r.resid[0, 5:]).all() and np.isnan(r.heads).all()


def test_cancel_stops_a_run_between_its_blocks(tmp_path):
    """A Cancel that arrives while a run is under way stops it before its next block: cancelled() is asked
    once before the run and once before each block, and turns true on the third question (block 1)."""
    m = gptviz.load(str(save(build("gpt2"), tmp_path / "g")))
    a, b = _prompts()
    asked = []
    def cancelled():
        asked.append(1)
        return len(asked) >= 3
    r = patch_sweep(m, a, b, 3, cancelled=cancelled)
    assert m.config.n_layer >= 2
    assert r.cancelled and r.done == 0 and len(asked) == 3
    assert np.isnan(r.resid).all() and np.isnan(r.heads).all()
    full = patch_sweep(m, a, b, 3, cancelled=lambda: False)      # the checks change no value
    ref = patch_sweep(m, a, b, 3)
    np.testing.assert_array_equal(full.resid, ref.resid)
    np.testing.assert_array_equal(full.heads, ref.heads)


def test_bad_inputs(tmp_path):
    m = gptviz.load(str(save(build("gpt2"), tmp_path / "g")))
    a, b = _prompts()
    with pytest.raises(ValueError, match="same token count: A has 8, B 7"):
        patch_sweep(m, a, b[:7], 3)
    with pytest.raises(ValueError, match="token id 500 out of range"):
        patch_sweep(m, a, b, 500)


def test_views_patching_and_ablation_delta(hf_model, hf_folder):
    """views.interventions in the worker's terms (a Context of prompt A), against transformers with hooks."""
    from gptviz.views.base import Context, Prompt
    from gptviz.views.interventions import AblationDelta, Patching
    from tests.unit.test_interventions import hf_ablated
    m = gptviz.load(str(hf_folder))
    a, b = "The cat sat on the mat", "The dog sat on the mat"
    ctx = Context(m, m.trace(a), Prompt(a))
    ids_a, ids_b = ctx.trace.token_ids, np.array(m.encode(b)[0])
    ticks = []
    r = Patching(text_b=b, token=262, minus=11).compute(ctx, progress=lambda d, n: ticks.append(d),
                                                        cancelled=lambda: len(ticks) >= 3)
    assert r.cancelled and r.done == 3 and [t.id for t in r.tokens_b] == ids_b.tolist()
    r = Patching(text_b=b, token=262, minus=11).compute(ctx)
    assert abs(r.resid[0, 1] - hf_resid_patch(hf_model, "gpt2", ids_a, ids_b, 0, 1, 262, 11)) < TOL
    assert abs(r.heads[1, 2] - hf_head_patch(hf_model, "gpt2", ids_a, ids_b, 1, 2, 262, 11)) < TOL
    d = AblationDelta(heads=((0, 2),), mlps=(1,), mode="mean", top_k=5).compute(ctx)
    clean, _ = hf_ablated(hf_model, "gpt2", ids_a)
    abl, _ = hf_ablated(hf_model, "gpt2", ids_a, [(0, 2)], [1], "mean")
    lc, la = (torch.log_softmax(torch.from_numpy(x[-1]).double(), -1).numpy() for x in (clean, abl))
    assert d.ids[:5].tolist() == np.argsort(-lc)[:5].tolist()
    np.testing.assert_allclose(d.delta, la[d.ids] - lc[d.ids], atol=1e-4)
    assert np.abs(d.delta).max() > 1e-3
