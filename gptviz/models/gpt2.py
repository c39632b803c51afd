"""GPT-2 (and nanoGPT, and gptviz's own checkpoints), after nanoGPT's model.py.

Pre-LN blocks, learned positions, causal softmax(q k^T / sqrt(hs)) v, a GELU MLP of 4·d, a final
LayerNorm, the unembedding tied to wte. Weights are held as nn.Linear (out, in), nanoGPT's layout;
Hugging Face files store c_attn/c_proj/c_fc as Conv1D (in, out), which the loader transposes
(CONV1D below). bias=False (nanoGPT's option) drops every bias, LayerNorm's included.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig
from .parts import ACTIVATION, CausalLM, LayerNorm, Output, Recorder, merge_heads, past_length, self_attention, unembed


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C = cfg.n_embd
        self.c_attn = nn.Linear(C, 3 * C, bias=cfg.qkv_bias)
        self.c_proj = nn.Linear(C, C, bias=cfg.out_bias)
        self.nh, self.hs = cfg.n_head, cfg.head_dim
        self.scale = cfg.attn_scale if cfg.attn_scale is not None else cfg.head_dim ** -0.5

    def forward(self, x, rec, name, past):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.nh, self.hs).transpose(1, 2)                # (B, nh, T, hs)
                   for t in self.c_attn(x).split(C, dim=2))
        z, present = self_attention(q, k, v, rec, name, scale=self.scale, past=past)
        return self.c_proj(merge_heads(z)), present                               # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.mlp_width, bias=cfg.mlp_bias)
        self.c_proj = nn.Linear(cfg.mlp_width, cfg.n_embd, bias=cfg.mlp_bias)
        self.act = ACTIVATION[cfg.activation]

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.norm_eps, bias=cfg.norm_bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.norm_eps, bias=cfg.norm_bias)
        self.mlp = MLP(cfg)

    def forward(self, x, rec, l, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        a, present = self.attn(self.ln_1(x), rec, p + ".attn", past)
        x = x + rec(p + ".attn_out", a)
        x = x + rec(p + ".mlp_out", self.mlp(self.ln_2(x)))
        return rec(p + ".resid_post", x), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = LayerNorm(cfg.n_embd, cfg.norm_eps, bias=cfg.norm_bias)


class GPT2(CausalLM):
    TIED = ("lm_head.weight", "transformer.wte.weight")
    OUT_PROJ, FINAL_NORM = "transformer.h.{}.attn.c_proj", "transformer.ln_f"
    CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = Trunk(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def position_table(self):
        """(block_size, C) learned position embeddings, row p for position p."""
        return self.transformer.wpe.weight

    def final(self, x):
        return self.transformer.ln_f(x)

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        t = self.transformer
        B, T = idx.shape
        offset = past_length(past, start)
        if offset + T > self.cfg.block_size:
            raise ValueError(f"{offset + T} positions exceed the model's {self.cfg.block_size} learned positions")
        if resid is None:
            tok = rec("embed", t.wte(idx))                                           # (B, T, C)
            pos = rec("pos_embed", t.wpe(torch.arange(offset, offset + T, device=idx.device))[None])  # (1, T, C)
            x = tok + pos
        else:
            x = resid
        x, cache = self.blocks(t.h, x, rec, past, start)
        x = rec("final_norm", self.final(x))
        return Output(unembed(x, self.lm_head, logits), rec.points, cache, offset, start)
