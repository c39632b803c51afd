"""Each view's compute function against transformers' own forward and numpy, on a fresh trace."""
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import gptviz
from gptviz.views import (Architecture, Attention, Compare, Context, Geometry, HeadStats, Lens, NextToken, Norms,
                          Overview, Prompt, Residual, Tokens)

TEXT = "one two three two three four"
B_TEXT = "one two five"


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def model(hf_folder):
    return gptviz.load(str(hf_folder))


@pytest.fixture(scope="module")
def weights(hf_folder):
    return load_file(str(hf_folder / "model.safetensors"))


def hf_run(hf_model, ids):
    with torch.no_grad():
        out = hf_model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    return (np.stack([a[0].numpy() for a in out.attentions]), [h[0].numpy() for h in out.hidden_states],
            out.logits[0].numpy())


def ctx_for(model, text=TEXT, bos=False):
    model.clear_cache()
    return Context(model, model.trace(text, prepend_bos=bos), Prompt(text, bos), model.fork())


def test_tokens_and_norms(model, weights):
    ctx = ctx_for(model)
    ids = model.tokenizer.encode(TEXT)
    t = Tokens().compute(ctx)
    assert list(t.token_ids) == ids and [p.id for p in t.tokens] == ids and t.prompt == Prompt(TEXT)
    assert not t.truncated and t.n_prompt_tokens == len(ids) and t.block_size == model.config.block_size
    n = Norms().compute(ctx)
    wte, wpe = weights["transformer.wte.weight"], weights["transformer.wpe.weight"]
    np.testing.assert_allclose(n.token_embedding_norm, np.linalg.norm(wte[ids], axis=1), rtol=1e-5)
    np.testing.assert_allclose(n.position_embedding_norm, np.linalg.norm(wpe[:len(ids)], axis=1), rtol=1e-5)
    np.testing.assert_allclose(n.input_norm, np.linalg.norm(wte[ids] + wpe[:len(ids)], axis=1), rtol=1e-5)
    with pytest.raises(ValueError):
        n.input_norm[0] = 1.0                       # frozen: the memo and the panels share it


def test_truncated_prompt_keeps_its_length(model):
    text = " ".join(f"w{i}" for i in range(80))
    t = Tokens().compute(ctx_for(model, text))
    assert t.truncated and t.T == model.config.block_size
    assert t.n_prompt_tokens == len(model.tokenizer.encode(text))


@pytest.mark.parametrize("temperature,k", [(1.0, 10), (0.5, 4)])
def test_next_token(model, hf_model, temperature, k):
    ids = model.tokenizer.encode(TEXT)
    _, _, logits = hf_run(hf_model, ids)
    p = _softmax(logits[-1].astype(np.float64) / temperature)
    want = np.lexsort((np.arange(len(p)), -p))[:k]
    r = NextToken(temperature, k).compute(ctx_for(model))
    assert r.top_ids.tolist() == want.tolist()
    np.testing.assert_allclose(r.top_probs, p[want], rtol=1e-4)
    assert [x.text for x in r.top_pieces] == [model.tokenizer.piece(int(i)).text for i in want]


def test_attention_overview_and_head_stats(model, hf_model):
    ids = model.tokenizer.encode(TEXT)
    att, _, _ = hf_run(hf_model, ids)                                    # (L, H, T, T)
    ctx = ctx_for(model)
    for layer in range(att.shape[0]):
        r = Attention(layer).compute(ctx)
        assert r.layer == layer
        np.testing.assert_allclose(r.attention, att[layer], atol=1e-5)
    assert Attention(1).compute(ctx).attention is ctx.attention(1)       # one computation per trace
    T = len(ids)
    q = np.arange(1, T)
    s = HeadStats().compute(ctx).head_stats
    np.testing.assert_allclose(s["prev"], att[:, :, q, q - 1].mean(-1), atol=1e-5)
    np.testing.assert_allclose(s["first"], att[:, :, q, 0].mean(-1), atol=1e-5)
    ent = -(att * np.log(np.where(att > 0, att, 1))).sum(-1).mean(-1)   # mean row entropy, nats
    np.testing.assert_allclose(s["entropy"], ent, atol=1e-4)
    o = Overview().compute(ctx)
    assert o.head_stats is s                                             # the rows were computed once
    # short prompt: every query row is a thumbnail row and keys are not pooled
    assert o.thumbnails.shape == att.shape
    np.testing.assert_allclose(o.thumbnails, att, atol=1e-5)


def test_lens_and_residual(model, hf_model, weights):
    ids = model.tokenizer.encode(TEXT)
    _, hidden, logits = hf_run(hf_model, ids)
    L = len(hidden) - 1
    ctx = ctx_for(model)
    g, b = weights["transformer.ln_f.weight"], weights["transformer.ln_f.bias"]
    wte = weights["transformer.wte.weight"]

    def lens(h):                                         # final LayerNorm, then the tied unembedding
        z = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
        return _softmax((z * g + b) @ wte.T)
    probs = [lens(h) for h in hidden[:L]] + [_softmax(logits)]          # HF's last hidden state is post-ln_f
    r = Lens().compute(ctx)
    assert r.positions.tolist() == list(range(len(ids)))
    for row in range(L + 1):
        np.testing.assert_array_equal(r.ids[row, :, 0], probs[row].argmax(-1))
        np.testing.assert_allclose(r.probs[row, :, 0], probs[row].max(-1), rtol=1e-4)
    assert r.text[0, 0, 0] == model.tokenizer.piece(int(r.ids[0, 0, 0])).text
    res = Residual().compute(ctx)
    for layer in range(L):
        np.testing.assert_allclose(res.resid_norm[layer], np.linalg.norm(hidden[layer], axis=1), rtol=1e-5)
    assert res.resid_norm.shape == (L + 1, len(ids)) and res.attn_norm.shape == res.mlp_norm.shape == (L, len(ids))


def test_compare(model, hf_model):
    ia, ib = model.tokenizer.encode(TEXT), model.tokenizer.encode(B_TEXT)
    att_a, _, la = hf_run(hf_model, ia)
    att_b, _, lb = hf_run(hf_model, ib)
    r = Compare(B_TEXT, 1, 1.0, 5).compute(ctx_for(model))
    np.testing.assert_allclose(r.attention_a, att_a[1], atol=1e-5)
    np.testing.assert_allclose(r.attention_b, att_b[1], atol=1e-5)
    pa, pb = _softmax(la[-1].astype(np.float64)), _softmax(lb[-1].astype(np.float64))
    np.testing.assert_allclose(r.probs_a, pa[r.top_ids], rtol=1e-4)
    np.testing.assert_allclose(r.probs_b, pb[r.top_ids], rtol=1e-4)
    assert set(r.top_ids.tolist()) == set(np.argsort(-pa)[:5].tolist()) | set(np.argsort(-pb)[:5].tolist())
    assert [p.id for p in r.tokens_b] == ib and r.text_b == B_TEXT
    assert Compare("", 1).compute(ctx_for(model)) is None                 # nothing to compare with


def test_architecture_and_geometry(model, weights):
    ctx = ctx_for(model)
    T = len(model.tokenizer.encode(TEXT))
    a = Architecture().compute(ctx)
    assert any(f"{model.config.n_head} × {T} × {T}" in b.shape for b in a.boxes)
    g = Geometry().compute(Context(model, None, None)).geometry
    wpe = weights["transformer.wpe.weight"]
    np.testing.assert_allclose(g["position_norm"], np.linalg.norm(wpe, axis=1), rtol=1e-5)
    u = wpe / np.linalg.norm(wpe, axis=1, keepdims=True)
    np.testing.assert_allclose(g["position_cosine"], u @ u.T, atol=1e-5)


def test_empty_prompt(model):
    ctx = ctx_for(model, "")
    assert Tokens().compute(ctx).T == 0
    assert len(NextToken().compute(ctx).top_ids) == 0
    o = Overview().compute(ctx)
    assert o.thumbnails.shape[2:] == (0, 0) and np.isnan(o.head_stats["prev"]).all()


LONG_TEXT = "one two three two three four five six seven eight nine ten eleven twelve thirteen fourteen"


def _max_pool(att, q_edges, k_edges):
    """(H, nq, nk) block maxima of (H, T, T); NaN for blocks wholly above the diagonal (keys after queries)."""
    H = att.shape[0]
    out = np.full((H, len(q_edges) - 1, len(k_edges) - 1), np.nan, np.float32)
    for i in range(len(q_edges) - 1):
        for j in range(len(k_edges) - 1):
            qs, ks = np.arange(q_edges[i], q_edges[i + 1]), np.arange(k_edges[j], k_edges[j + 1])
            if (ks[:, None] <= qs[None, :]).any():
                out[:, i, j] = att[:, qs][:, :, ks].reshape(H, -1).max(-1)
    return out


def test_long_prompt_attention_is_pooled_and_windows_exact(model, hf_model, monkeypatch):
    from gptviz.views import AttentionWindow
    from gptviz.views import attention as va
    monkeypatch.setattr(va, "EXACT_MAX", 8)          # "long" from 9 tokens on, pooled to 5 x 5
    monkeypatch.setattr(va, "POOL_BINS", 5)
    monkeypatch.setattr(va, "BLOCK_ELEMENTS", 64 * 3)  # a few query rows per step
    ctx = ctx_for(model, LONG_TEXT)
    T = ctx.trace.T
    rows_asked = []
    whole = ctx.trace.attention
    ctx.trace.attention = lambda layer: pytest.fail("a long prompt's view asked for the whole (H, T, T)")
    orig_rows = ctx.trace.attention_rows
    ctx.trace.attention_rows = lambda layer, rows: (rows_asked.append(len(rows)), orig_rows(layer, rows))[1]
    att, _, _ = hf_run(hf_model, ctx.ids.tolist())            # (L, H, T, T) transformers' own
    edges = np.linspace(0, T, 6).round().astype(int)
    r = Attention(1).compute(ctx)
    assert r.pooled.shape == (att.shape[1], 5, 5) and not r.exact
    np.testing.assert_array_equal(r.q_edges, edges)
    np.testing.assert_allclose(r.pooled, _max_pool(att[1], edges, edges), atol=1e-5)   # NaN where masked
    assert max(rows_asked) < T                              # never every row of the layer at once
    w = AttentionWindow(1, 3, 7, 2, 6).compute(ctx)         # 4 x 4 <= POOL_BINS: exact cells
    assert w.exact
    ref = att[1][:, 3:7, 2:6].copy()
    ref[:, np.arange(3, 7)[:, None] < np.arange(2, 6)[None, :]] = np.nan
    np.testing.assert_allclose(w.pooled, ref, atol=1e-5)
    big = AttentionWindow(0, 2, T, 1, T - 2).compute(ctx)   # wider than 5: pooled again, over the window only
    qe, ke = np.linspace(2, T, 6).round().astype(int), np.linspace(1, T - 2, 6).round().astype(int)
    np.testing.assert_allclose(big.pooled, _max_pool(att[0], qe, ke), atol=1e-5)
    ctx.trace.attention = whole
