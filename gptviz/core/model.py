"""The GPT-2 architecture in torch, after nanoGPT's model.py, with names that match the checkpoints.

Pre-LN blocks, learned positional embeddings, causal softmax(QK^T/sqrt(hs))V, GELU MLP of 4*d,
final LayerNorm, unembedding tied to wte unless the checkpoint brings its own lm_head.
`forward` is the training path; `run` is the tracing path used by LoadedModel (cached keys/values).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..analysis.geometry import sinusoidal
from .config import GPTConfig


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's has no bias=False before 2.1 and we keep names stable)."""

    def __init__(self, ndim: int, bias: bool, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd
        self.dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def split_heads(self, t):
        B, T, C = t.shape
        return t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

    def qkv(self, x):
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)                  # (B, T, C) each
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)  # (B, nh, T, hs) each

    def forward(self, x, past: tuple[torch.Tensor, torch.Tensor] | None = None):
        """x: (B, T, C) new positions; past: cached (k, v), each (B, nh, Tp, hs). Returns y and the full (k, v)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x)
        if past is not None and past[0].shape[2] > 0:
            k = torch.cat([past[0], k], dim=2)   # (B, nh, Tp+T, hs)
            v = torch.cat([past[1], v], dim=2)
            Tp = past[0].shape[2]
            # query i sits at absolute position Tp+i and sees keys 0..Tp+i
            mask = torch.arange(Tp + T, device=x.device)[None, :] <= (Tp + torch.arange(T, device=x.device))[:, None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                    # (B, T, C)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.mlp_width, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.mlp_width, cfg.n_embd, bias=cfg.bias)
        self.approximate = "tanh" if cfg.activation == "gelu_tanh" else "none"
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.bias, cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.bias, cfg.layer_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, past=None):
        a, kv = self.attn(self.ln_1(x), past)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, kv


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(cfg.vocab_size, cfg.n_embd),
            wpe=nn.Embedding(cfg.block_size, cfg.n_embd),
            drop=nn.Dropout(cfg.dropout),
            h=nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)]),
            ln_f=LayerNorm(cfg.n_embd, cfg.bias, cfg.layer_norm_eps),
        ))
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    def init_weights(self, seed: int | None = None, wpe: str = "normal") -> None:
        """GPT-2's initialisation (N(0, 0.02), residual projections scaled by 1/sqrt(2L)); for training.

        wpe="sinusoidal" starts the (still learned) position embeddings from the original Transformer's
        sinusoids at the same scale: a shift by one position is then a rotation, easy for a head to
        learn, which is what previous-token and induction heads need.
        """
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
        if wpe == "sinusoidal":
            pe = torch.from_numpy(sinusoidal(*self.transformer.wpe.weight.shape)).float()     # (T, C)
            with torch.no_grad():
                self.transformer.wpe.weight.copy_(pe * 0.02 * math.sqrt(2))     # element std 0.02, like wte

    def forward(self, idx, targets=None):
        """Training forward. idx: (B, T) int64; returns logits (B, T, V) and the mean loss if targets given."""
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for block in self.transformer.h:
            x, _ = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))                                # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def run(self, idx, start: int, past: list | None):
        """Tracing forward over new positions start..start+T-1, given the cached keys/values before them.

        idx: (T,) int64. Returns the residual stream after the embedding and after every block,
        (L+1, T, C), and each layer's full (k, v), each (nh, start+T, hs).
        """
        T = idx.shape[0]
        L, C = self.config.n_layer, self.config.n_embd
        pos = torch.arange(start, start + T, device=idx.device)
        x = (self.transformer.wte(idx) + self.transformer.wpe(pos))[None]             # (1, T, C)
        resid = torch.empty(L + 1, T, C, dtype=x.dtype, device=x.device)              # filled as we go: no stack copy
        resid[0] = x[0]
        kvs = []
        for i, block in enumerate(self.transformer.h):
            p = None if past is None else (past[i][0][None], past[i][1][None])
            x, (k, v) = block(x, p)
            resid[i + 1] = x[0]
            # contiguous copies: views would keep each layer's whole (T, 3C) qkv buffer, queries included, alive
            kvs.append((k[0].contiguous(), v[0].contiguous()))                         # (nh, start+T, hs)
        return resid, kvs
