"""Direct logit attribution and per-token surprisal of a Trace (torch in, numpy out; no Qt).

Parts of the final residual at one position, from what the trace keeps (no extra forward pass):
- embed: the stream entering block 0 (token embedding, + learned positions, Gemma's scaling, OPT's project_in);
- heads: z of each head at that position (its attention row, recomputed from the cached q and k, times the
  cached v; an ablated head's z is what the ablation put in) through its columns of the output projection;
- attn_bias: the output projection's bias;
- mlps: what each block's MLP added, resid_post - resid_pre - attn_out (exact for sequential and parallel
  residual blocks alike: both add attn_out and mlp_out to the block's input).
Post-LN blocks (OPT-350m) renormalise the sum of everything before them inside every block, so the final
residual is not a sum of per-component outputs: refused.
"""
from __future__ import annotations

import numpy as np
import torch

from ..analysis.attribution import Attribution, frozen_norm_read
from ..models.parts import LayerNorm, RMSNorm, repeat_kv


def _final_norm(model):
    """(kind, weight (C,) or None, bias (C,) or None, eps) of the family's final norm."""
    norm = model.final_norm() if model.cfg.final_norm else None
    if norm is None:
        return "none", None, None, 0.0
    if isinstance(norm, RMSNorm):
        w = norm.weight.detach().double()
        return "rmsnorm", (1.0 + w) if norm.plus_one else w, None, norm.eps
    if isinstance(norm, LayerNorm):
        w = None if norm.weight is None else norm.weight.detach().double()
        b = None if norm.bias is None else norm.bias.detach().double()
        return "layernorm", w, b, norm.eps
    raise ValueError(f"final norm {type(norm).__name__} has no frozen-scale decomposition here")


def _direction(model, token: int, minus: int | None) -> tuple[torch.Tensor, float]:
    """(C,) the direction the final norm's output is read by, and the unembedding bias's share."""
    head = model.unembedding
    W = head.weight.detach().double()                                        # (V, E)
    d = W[token] - (W[minus] if minus is not None else 0.0)
    b = 0.0
    if getattr(head, "bias", None) is not None:
        hb = head.bias.detach().double()
        b = float(hb[token] - (hb[minus] if minus is not None else 0.0))
    proj = getattr(getattr(getattr(model, "model", None), "decoder", None), "project_out", None)
    if model.cfg.family == "opt" and proj is not None:                      # OPT-350m's project_out (E, C)
        d = proj.weight.detach().double().T @ d
    return d, b


@torch.no_grad()
def logit_attribution(trace, token: int, position: int = -1, minus: int | None = None) -> Attribution:
    cfg, model = trace._cfg, trace._model
    if cfg.post_ln:
        raise ValueError(f"direct logit attribution needs a pre-LN model; {cfg.model_type} here is post-LN "
                         "(a LayerNorm after each residual add renormalises everything before it, so the final "
                         "residual is no sum of per-head and per-MLP outputs)")
    T, V = trace.T, cfg.vocab_size
    if T == 0:
        raise ValueError("empty prompt: there is no position to attribute")
    p = position + T if position < 0 else position
    if not 0 <= p < T:
        raise IndexError(f"position {position} out of range for {T} tokens")
    for t in (token, minus):
        if t is not None and not 0 <= int(t) < V:
            raise ValueError(f"token id {t} out of range 0..{V - 1}")
    L, H, hs = cfg.n_layer, cfg.n_head, cfg.head_dim
    att = [trace.attention_rows(l, [p])[:, 0] for l in range(L)]           # L x (H, T)
    heads = torch.zeros(L, H, cfg.n_embd, dtype=torch.float64)              # (L, H, C)
    biases = torch.zeros(L, cfg.n_embd, dtype=torch.float64)
    mlps = torch.zeros(L, cfg.n_embd, dtype=torch.float64)
    resid = [r[p].double() for r in trace._resid]                          # L+1 x (C,)
    for l in range(L):
        v = repeat_kv(trace._kv[l][1][None], H)[0].double()                 # (H, T, hs)
        z = torch.einsum("ht,hts->hs", torch.from_numpy(att[l]).double().to(v.device), v)   # (H, hs)
        for (al, h), val in trace._replaced.items():
            if al == l:
                z[h] = val.double()
        proj = model.out_proj(l)
        Wo = proj.weight.detach().double().view(cfg.n_embd, H, hs)         # (C, H, hs)
        heads[l] = torch.einsum("chs,hs->hc", Wo, z).cpu()
        if proj.bias is not None:
            biases[l] = proj.bias.detach().double().cpu()
        mlps[l] = (resid[l + 1] - resid[l]).cpu() - heads[l].sum(0) - biases[l]
    kind, w, b, eps = _final_norm(model)
    d, ub = _direction(model, int(token), None if minus is None else int(minus))
    parts = torch.cat([resid[0].cpu()[None], heads.reshape(L * H, -1), biases, mlps]).numpy()   # (1+LH+2L, C)
    contrib, bias_part, scale = frozen_norm_read(
        resid[-1].cpu().numpy(), parts, kind, None if w is None else w.cpu().numpy(),
        None if b is None else b.cpu().numpy(), eps, d.cpu().numpy())
    logits = trace.logits([p])[0]
    logit = float(logits[token] - (logits[minus] if minus is not None else 0.0))
    return Attribution(int(token), None if minus is None else int(minus), p, logit, float(contrib[0]),
                       contrib[1:1 + L * H].reshape(L, H), contrib[1 + L * H:1 + L * H + L],
                       contrib[1 + L * H + L:], bias_part + ub, scale)


@torch.no_grad()
def surprisal(trace, k: int = 5, chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-log p (nats) of each prompt token after the first given its prefix, (T-1,); and what the model
    expected there: the top-k decodable ids and their probabilities, (T-1, k) each. p is the model's own
    softmax over its whole vocabulary. Computed `chunk` positions at a time (never (T, V) at once)."""
    T = trace.T
    n = max(T - 1, 0)
    out, ids, probs = np.zeros(n, np.float32), np.zeros((n, k), np.int64), np.zeros((n, k), np.float32)
    h = trace._resid[-1]
    mask = torch.from_numpy(trace.decodable_mask()).to(h.device)
    target = torch.tensor(trace.token_ids[1:], device=h.device)      # a copy: token_ids is read-only
    for s in range(0, n, chunk):
        logp = trace._model.logits_of(h[s:min(s + chunk, n)]).float().log_softmax(-1)  # (c, V): predicts s+1..
        out[s:s + chunk] = (-logp.gather(1, target[s:s + chunk, None])[:, 0]).cpu().numpy()
        top = logp.masked_fill(~mask, float("-inf")).topk(min(k, int(mask.sum())), dim=-1)
        ids[s:s + chunk, :top.indices.shape[1]] = top.indices.cpu().numpy()
        probs[s:s + chunk, :top.indices.shape[1]] = top.values.exp().cpu().numpy()
    return out, ids, probs
