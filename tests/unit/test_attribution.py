"""Direct logit attribution (tr.logit_attribution) and per-token surprisal (tr.surprisal) on every family's tiny
random checkpoint saved by transformers: the parts sum to transformers' logit; each head's part equals a numpy
recomputation from that head's z and the output projection's weights as transformers holds them, through the
final norm (read off transformers' module) with its scale frozen; MLP and embedding parts likewise from the
recorded points; post-LN is refused by name; surprisal equals transformers' log-softmax."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gptviz
from tests.families import VOCAB, build, save

TOL = 1e-4
T = 12

# transformers' module paths: attention output projection of layer {}, final norm
HF = {
    "gpt2": ("transformer.h.{}.attn.c_proj", "transformer.ln_f"),
    "llama": ("model.layers.{}.self_attn.o_proj", "model.norm"),
    "gemma": ("model.layers.{}.self_attn.o_proj", "model.norm"),
    "gpt_neox": ("gpt_neox.layers.{}.attention.dense", "gpt_neox.final_layer_norm"),
    "gpt_neo": ("transformer.h.{}.attn.attention.out_proj", "transformer.ln_f"),
    "gptj": ("transformer.h.{}.attn.out_proj", "transformer.ln_f"),
    "phi": ("model.layers.{}.self_attn.dense", "model.final_layernorm"),
    "opt": ("model.decoder.layers.{}.self_attn.out_proj", "model.decoder.final_layer_norm"),
}
CASES = {
    "gpt2": ("gpt2", {}), "llama_gqa": ("llama", {}), "llama_bias": ("llama", dict(attention_bias=True, mlp_bias=True)),
    "gemma": ("gemma", {}), "gpt_neox_parallel": ("gpt_neox", {}),
    "gpt_neox_sequential": ("gpt_neox", dict(use_parallel_residual=False)), "gpt_neo": ("gpt_neo", {}),
    "gptj": ("gptj", {}), "phi": ("phi", {}), "opt": ("opt", {}), "opt_project_out": ("opt", dict(word_embed_proj_dim=32)),
}


def _ids(seed=1, n=T):
    return np.random.default_rng(seed).integers(0, VOCAB, n)


def _np_read(hf, kind, x, vec, token):
    """numpy: vec (C,) through transformers' final norm with its scale frozen at x's, read by lm_head's row."""
    norm = hf.get_submodule(HF[kind][1])
    w = norm.weight.detach().double().numpy()
    x, vec = x.astype(np.float64), vec.astype(np.float64)
    if isinstance(norm, torch.nn.LayerNorm):
        y = (vec - vec.mean()) / np.sqrt(x.var() + norm.eps) * w
    else:                                          # Llama / Gemma RMSNorm
        eps = getattr(norm, "variance_epsilon", None) or norm.eps
        y = vec / np.sqrt((x * x).mean() + eps) * ((1.0 + w) if kind == "gemma" else w)
    if getattr(hf.model.decoder if kind == "opt" else hf, "project_out", None) is not None:
        y = hf.model.decoder.project_out.weight.detach().double().numpy() @ y
    return float(y @ hf.get_output_embeddings().weight.detach().double().numpy()[token])


@pytest.mark.parametrize("case", list(CASES))
def test_parts_sum_to_the_logit_and_each_part_is_its_own_output(case, tmp_path):
    kind, over = CASES[case]
    hf = build(kind, **over)
    m = gptviz.load(str(save(hf, tmp_path / case)))
    ids = _ids()
    with torch.no_grad():
        ref = hf(torch.from_numpy(ids)[None]).logits[0].numpy()
    tr = m.trace_ids(ids)
    L, H = m.config.n_layer, m.config.n_head
    tok, other = int(np.argmax(ref[-1])), int(np.argmin(ref[-1]))
    a = tr.logit_attribution(tok)
    assert a.heads.shape == (L, H) and a.mlps.shape == (L,) and a.attn_bias.shape == (L,)
    assert abs(a.total - ref[-1, tok]) < TOL and abs(a.total - tr.logits()[-1, tok]) < TOL
    d = tr.logit_attribution(tok, minus=other)
    assert abs(d.total - (ref[-1, tok] - ref[-1, other])) < TOL
    p = 5                                            # another position
    b = tr.logit_attribution(other, position=p)
    assert b.position == p and abs(b.total - ref[p, other]) < TOL
    x = tr.residual(L)[-1]                           # the final residual the norm's scale is frozen at
    hd = m.config.head_dim
    for l in range(L):
        proj = hf.get_submodule(HF[kind][0].format(l))
        W = proj.weight.detach().numpy()
        W = W.T if kind == "gpt2" else W             # Conv1D stores (in, out)
        z = tr.point(f"blocks.{l}.attn.z")[:, -1]    # (H, hd) each head's output at the last position
        for h in range(H):
            want = _np_read(hf, kind, x, W[:, h * hd:(h + 1) * hd] @ z[h], tok)
            assert abs(a.heads[l, h] - want) < 1e-5, (l, h)
        if proj.bias is not None:
            assert abs(a.attn_bias[l] - _np_read(hf, kind, x, proj.bias.detach().numpy(), tok)) < 1e-5
        else:
            assert a.attn_bias[l] == 0
        mlp = tr.point(f"blocks.{l}.mlp_out")[-1]
        assert abs(a.mlps[l] - _np_read(hf, kind, x, mlp, tok)) < 1e-4, l
    emb = tr.point("embed")[-1] + (tr.point("pos_embed")[-1] if m.config.positions == "learned" else 0)
    assert abs(a.embed - _np_read(hf, kind, x, emb, tok)) < 1e-4
    assert np.abs(a.heads).max() > 1e-3 and abs(a.mlps).max() > 1e-3


def test_attribution_of_an_ablated_trace(tmp_path):
    hf = build("llama")
    m = gptviz.load(str(save(hf, tmp_path / "l")))
    ids = _ids(2)
    for mode in ("zero", "mean"):
        tr = m.trace_ids(ids, ablate=[(0, 1), (1, 2)], ablate_mlp=[0], mode=mode)
        tok = int(np.argmax(tr.logits()[-1]))
        a = tr.logit_attribution(tok)
        assert abs(a.total - tr.logits()[-1, tok]) < TOL
        if mode == "zero":
            assert a.heads[0, 1] == 0 and a.heads[1, 2] == 0 and abs(a.mlps[0]) < 1e-5
        z = tr.point("blocks.1.attn.z")[2, -1]       # the mean the ablation put in
        x = tr.residual(2)[-1]
        Wo = hf.model.layers[1].self_attn.o_proj.weight.detach().numpy()
        hd = m.config.head_dim
        assert abs(a.heads[1, 2] - _np_read(hf, "llama", x, Wo[:, 2 * hd:3 * hd] @ z, tok)) < 1e-5


def test_post_ln_is_refused_by_name(tmp_path):
    hf = build("opt", do_layer_norm_before=False)
    m = gptviz.load(str(save(hf, tmp_path / "o")))
    tr = m.trace_ids(_ids())
    with pytest.raises(ValueError, match="post-LN"):
        tr.logit_attribution(3)


def test_bad_token_and_position(tmp_path):
    hf = build("gpt2")
    tr = gptviz.load(str(save(hf, tmp_path / "g"))).trace_ids(_ids())
    with pytest.raises(ValueError, match="token id 101 out of range"):
        tr.logit_attribution(VOCAB)
    with pytest.raises(IndexError, match="position 12"):
        tr.logit_attribution(1, position=T)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_surprisal_equals_transformers_log_softmax(kind, tmp_path):
    hf = build(kind)
    m = gptviz.load(str(save(hf, tmp_path / kind)))
    ids = _ids(4, 20)
    with torch.no_grad():
        logp = torch.log_softmax(hf(torch.from_numpy(ids)[None]).logits[0].double(), -1).numpy()   # (T, V)
    s, top, probs = m.trace_ids(ids).surprisal(k=5)
    assert s.shape == (19,) and top.shape == (19, 5)
    np.testing.assert_allclose(s, -logp[np.arange(19), ids[1:]], atol=1e-4)
    for i in range(19):
        np.testing.assert_allclose(probs[i], np.exp(logp[i, top[i]]), atol=1e-5)
        assert set(top[i]) == set(np.argsort(-logp[i])[:5])


def test_views_attribution_and_surprisal(tmp_path):
    from gptviz.views.base import Context, Prompt
    from gptviz.views.interventions import Attribution, Surprisal
    hf = build("llama")
    m = gptviz.load(str(save(hf, tmp_path / "l")))
    ids = _ids(6)
    with torch.no_grad():
        logits = hf(torch.from_numpy(ids)[None]).logits[0].double()
    ctx = Context(m, m.trace_ids(ids), Prompt(""))
    a = Attribution().compute(ctx)                       # the top next token
    assert a.token == int(logits[-1].argmax()) and abs(a.total - float(logits[-1, a.token])) < TOL
    s = Surprisal(k=3).compute(ctx)
    want = -torch.log_softmax(logits, -1).numpy()[np.arange(T - 1), ids[1:]]
    np.testing.assert_allclose(s.surprisal, want, atol=1e-4)
    assert len(s.top_pieces) == T - 1 and s.top_pieces[0][0].id == s.top_ids[0, 0]
    post = gptviz.load(str(save(build("opt", do_layer_norm_before=False), tmp_path / "o")))
    r = Attribution().compute(Context(post, post.trace_ids(ids), Prompt("")))
    assert r.refused and "post-LN" in r.refused and r.total == 0
