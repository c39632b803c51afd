"""Numpy analysis functions against direct recomputation, and the sampled-row attention view."""
import numpy as np

import gptviz
from gptviz.analysis.attention import pool, pool_keys, thumbnail_rows
from gptviz.analysis.probabilities import entropy, softmax, top_k


def test_softmax_top_k_entropy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=100)
    p = softmax(z, 0.7)
    e = np.exp(z / 0.7)
    np.testing.assert_allclose(p, e / e.sum())
    mask = np.arange(100) < 90
    pm = softmax(z, 1.0, mask)
    assert np.all(pm[90:] == 0) and abs(pm.sum() - 1) < 1e-12
    ids, probs = top_k(p, 5)
    np.testing.assert_array_equal(ids, np.argsort(-p)[:5])
    np.testing.assert_allclose(probs, np.sort(p)[::-1][:5])
    assert softmax(z, 0)[np.argmax(z)] == 1
    np.testing.assert_allclose(entropy(np.full(8, 1 / 8)), np.log(8))
    assert top_k(np.array([0.2, 0.5, 0.2, 0.1]), 3)[0].tolist() == [1, 0, 2]     # ties: lower id first


def test_top_k_ties_at_the_cut_take_the_lowest_ids():
    """A greedy distribution: one 1 and 50,000 zeros tied for places 2..k; the reference is a stable sort."""
    p = np.zeros(50_000)
    p[11] = 1.0
    for k in (1, 3, 10):
        np.testing.assert_array_equal(top_k(p, k)[0], np.argsort(-p, kind="stable")[:k])
    q = np.random.default_rng(3).integers(0, 4, size=1000) / 4.0           # many ties at every value
    np.testing.assert_array_equal(top_k(q, 300)[0], np.argsort(-q, kind="stable")[:300])


def test_pooling_matches_block_means():
    rng = np.random.default_rng(1)
    a = rng.random((2, 100, 100))
    p = pool(a, 10)
    np.testing.assert_allclose(p[1, 3, 7], a[1, 30:40, 70:80].mean(), rtol=1e-6)
    r = pool_keys(a[:, [9, 19]], 10)
    np.testing.assert_allclose(r[0, 1, 2], a[0, 19, 20:30].mean(), rtol=1e-6)
    assert thumbnail_rows(100, 10).tolist() == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]
    assert thumbnail_rows(5, 10).tolist() == [0, 1, 2, 3, 4]


def test_attention_rows_equal_full_pattern_rows(hf_folder):
    m = gptviz.load(str(hf_folder))
    tr = m.trace("The quick brown fox jumps over the lazy dog and keeps running")
    rows = [0, 3, tr.T - 1]
    for layer in range(m.config.n_layer):
        np.testing.assert_allclose(tr.attention_rows(layer, rows), tr.attention(layer)[:, rows], atol=1e-6)


def _naive_scores(a, ids):
    """Direct per-query loops over a full (H, T, T) pattern."""
    H, T, _ = a.shape
    prev = np.array([np.mean([a[h, i, i - 1] for i in range(1, T)]) for h in range(H)])
    first = np.array([np.mean([a[h, i, 0] for i in range(1, T)]) for h in range(H)])
    ind = []
    for h in range(H):
        vals = []
        for i in range(T):
            keys = [j + 1 for j in range(i) if ids[j] == ids[i]]
            if keys:
                vals.append(sum(a[h, i, k] for k in keys))
        ind.append(np.mean(vals) if vals else np.nan)
    ent = np.array([np.mean([-(a[h, i][a[h, i] > 0] * np.log(a[h, i][a[h, i] > 0])).sum() for i in range(T)])
                    for h in range(H)])
    return {"prev": prev, "first": first, "induction": np.array(ind), "entropy": ent}


def test_head_scores_equal_naive_loops(hf_folder):
    from gptviz.analysis.heads import head_scores, sample_rows
    m = gptviz.load(str(hf_folder))
    tr = m.trace("a b c d a b c d e f a b x y a b")
    rows = sample_rows(tr.T)
    for layer in range(m.config.n_layer):
        full = tr.attention(layer)
        got = head_scores(tr.attention_rows(layer, rows), rows, tr.token_ids)
        want = _naive_scores(full, tr.token_ids)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6)


def test_head_scores_on_sampled_rows_match_those_rows(hf_folder):
    from gptviz.analysis.heads import head_scores, sample_rows
    m = gptviz.load(str(hf_folder))
    tr = m.trace_ids(list(range(300, 330)) * 2)                  # 60 tokens, 20 sampled query rows
    rows = sample_rows(tr.T, 20)
    assert len(rows) == 20 and rows[0] == 0 and rows[-1] == tr.T - 1
    full = tr.attention(1)
    got = head_scores(tr.attention_rows(1, rows), rows, tr.token_ids)
    keep = rows[rows >= 1]
    np.testing.assert_allclose(got["prev"], full[:, keep, keep - 1].mean(-1), rtol=1e-5)


def test_logit_lens_against_numpy(hf_folder):
    from safetensors.numpy import load_file
    w = load_file(str(hf_folder / "model.safetensors"))
    m = gptviz.load(str(hf_folder))
    tr = m.trace("The quick brown fox jumps over the lazy dog")
    pos = np.arange(tr.T - 4, tr.T)
    ids, probs = tr.logit_lens(pos)
    assert ids.shape == probs.shape == (m.config.n_layer + 1, 4, 5)
    g, b = w["transformer.ln_f.weight"], w["transformer.ln_f.bias"]
    for r in range(m.config.n_layer + 1):
        x = tr.residual(r)[pos].astype(np.float64)
        h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * g + b
        z = h @ w["transformer.wte.weight"].T.astype(np.float64)
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_array_equal(ids[r], np.argsort(-p, axis=-1)[:, :5])
        np.testing.assert_allclose(probs[r], np.sort(p, axis=-1)[:, ::-1][:, :5], atol=1e-5)
    # the last row is the model's real prediction
    np.testing.assert_allclose(probs[-1, -1, 0], tr.next_token_probs().max(), atol=1e-6)


def test_embedding_geometry_against_direct_formulas():
    from gptviz.analysis.geometry import cosine_matrix, embedding_geometry, sinusoidal
    pe = sinusoidal(50, 16)
    np.testing.assert_allclose(pe[3, 4:6], [np.sin(3 / 10000 ** (4 / 16)), np.cos(3 / 10000 ** (4 / 16))], rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(pe, axis=1), np.sqrt(8))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(7, 5))
    c = cosine_matrix(w)
    assert abs(c[2, 5] - w[2] @ w[5] / np.linalg.norm(w[2]) / np.linalg.norm(w[5])) < 1e-12
    g = embedding_geometry(rng.normal(size=(100, 16)), w @ rng.normal(size=(5, 16)))
    np.testing.assert_allclose(np.diag(g["position_cosine"]), 1, atol=1e-6)
    assert g["sinusoid_norm"] == np.sqrt(8)


def test_block_contributions_against_hooks(hf_model, hf_folder):
    """Attention and MLP outputs of each block, as transformers computes them (forward hooks)."""
    import torch
    m = gptviz.load(str(hf_folder))
    text = "The quick brown fox jumps over the lazy dog"
    ids = m.tokenizer.encode(text)
    seen = {}
    hooks = []
    for i, blk in enumerate(hf_model.transformer.h):
        hooks.append(blk.attn.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(("attn", i), out[0])))
        hooks.append(blk.mlp.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(("mlp", i), out)))
    with torch.no_grad():
        hs = hf_model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    for h in hooks:
        h.remove()
    resid, attn, mlp = m.trace(text).block_contributions()
    for i in range(m.config.n_layer):
        np.testing.assert_allclose(attn[i], seen[("attn", i)][0].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(mlp[i], seen[("mlp", i)][0].norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(resid[0], hs[0][0].norm(dim=-1).numpy(), rtol=1e-5)


def test_architecture_boxes_count_every_parameter():
    """Box totals and GPTConfig.n_params() against an independent count: the parameters of transformers'
    GPT2LMHeadModel of the same shape (HF counts a tied lm_head once too)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from gptviz.analysis.architecture import architecture, total_params
    from gptviz.core.config import GPTConfig
    for tied, n_inner in ((True, None), (False, 80)):
        cfg = GPTConfig(n_layer=3, n_head=2, n_embd=32, block_size=48, vocab_size=301, n_inner=n_inner,
                        tie_word_embeddings=tied)
        hf = GPT2LMHeadModel(GPT2Config(n_layer=3, n_head=2, n_embd=32, n_positions=48, vocab_size=301,
                                        n_inner=n_inner, tie_word_embeddings=tied))
        want = sum(p.numel() for p in hf.parameters())          # parameters() yields a shared tensor once
        boxes = architecture(cfg, 37)
        assert total_params(boxes, cfg.n_layer) == cfg.n_params() == want
        by_key = {b.key: b.params for b in boxes}
        assert by_key["attn"] == sum(p.numel() for p in hf.transformer.h[0].attn.parameters())
        assert by_key["mlp"] == sum(p.numel() for p in hf.transformer.h[0].mlp.parameters())
        assert by_key["unembed"] == (0 if tied else 301 * 32)
        attn = next(b for b in boxes if b.key == "attn")
        assert f"{cfg.n_head} × 37 × 37" in attn.shape
    nb = GPTConfig(n_layer=2, n_head=2, n_embd=16, bias=False)                # nanoGPT's bias=False: weights only
    assert nb.n_params() == 50257 * 16 + 256 * 16 + 16 + 2 * (16 + 3 * 16 * 16 + 16 * 16 + 16 + 2 * 4 * 16 * 16)


def test_sinusoidal_position_init_is_the_original_encoding():
    """GPT.init_weights(wpe="sinusoidal") uses the one sinusoid function; here written out from the paper:
    PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), scaled to element std 0.02."""
    import math
    from gptviz.core.config import GPTConfig
    from gptviz.core.model import GPT
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=10, block_size=7, vocab_size=11))
    model.init_weights(seed=0, wpe="sinusoidal")
    want = np.zeros((7, 10))
    for p in range(7):
        for i in range(5):
            want[p, 2 * i] = math.sin(p / 10000 ** (2 * i / 10))
            want[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / 10))
    np.testing.assert_allclose(model.transformer.wpe.weight.detach().numpy(), want * 0.02 * math.sqrt(2), rtol=1e-6,
                               atol=1e-9)


def _numpy_pattern(q, k, scale, positions, window):
    """(B, nh, R, Tk) softmax of q k^T * scale over the allowed keys, in float64 numpy, and the (R, Tk)
    allowed keys."""
    nh, nkv = q.shape[1], k.shape[1]
    k = np.repeat(k, nh // nkv, axis=1)                                   # each KV head serves nh/nkv heads
    s = np.einsum("bhrd,bhtd->bhrt", q.astype(np.float64), k.astype(np.float64)) * scale
    j = np.arange(k.shape[2])[None, :]
    i = np.asarray(positions)[:, None]
    ok = (j <= i) & ((i - j < window) if window is not None else True)
    s = np.where(ok, s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True), ok


def test_pattern_at_equals_a_numpy_softmax_in_place_or_not():
    import torch
    from gptviz.models.parts import pattern_at
    rng = np.random.default_rng(5)
    q = rng.normal(size=(1, 4, 6, 8)).astype(np.float32)                   # 6 query rows
    k = rng.normal(size=(1, 2, 11, 8)).astype(np.float32)                  # 2 KV heads (grouped), 11 keys
    positions = [10, 0, 4, 7, 9, 3]                                        # any rows, any order
    for window in (None, 3):
        want, ok = _numpy_pattern(q, k, 0.35, positions, window)
        got = pattern_at(torch.from_numpy(q), torch.from_numpy(k), 0.35, torch.tensor(positions), window)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
        out = np.full(want.shape, 7.0, np.float32)                         # the caller's array, written in place
        pattern_at(torch.from_numpy(q), torch.from_numpy(k), 0.35, torch.tensor(positions), window,
                   out=torch.from_numpy(out))
        np.testing.assert_array_equal(out, got.numpy())
        kk = torch.from_numpy(np.repeat(k, q.shape[1] // k.shape[1], axis=1))
        s = (torch.from_numpy(q) @ kk.transpose(-1, -2)) * 0.35
        s = s.masked_fill(torch.from_numpy(~ok), float("-inf"))
        np.testing.assert_array_equal(out, torch.softmax(s, -1).numpy())  # bit-equal to an out-of-place softmax
