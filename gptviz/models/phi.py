"""Phi-1, Phi-1.5 and Phi-2, as transformers' PhiForCausalLM computes them.

What differs from GPT-2: rotary (rotate-half) on the first partial_rotary_factor of each head
(Phi-2: 32 of 80 dims); one LayerNorm feeds attention and MLP in parallel,
x + attn(ln x) + mlp(ln x); the attention output projection is called `dense`; q/k may get a
LayerNorm per head (qk_layernorm); the unembedding lm_head is its own matrix with a bias.
"""
from __future__ import annotations

import torch.nn as nn

from .config import ModelConfig
from .parts import (ACTIVATION, CausalLM, LayerNorm, Output, Recorder, Rotary, merge_heads, past_length,
                    self_attention, unembed)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C, nh, nkv, hs = cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.q_proj = nn.Linear(C, nh * hs)
        self.k_proj = nn.Linear(C, nkv * hs)
        self.v_proj = nn.Linear(C, nkv * hs)
        self.dense = nn.Linear(nh * hs, C)
        if cfg.qk_norm:
            self.q_layernorm = LayerNorm(hs, cfg.norm_eps)
            self.k_layernorm = LayerNorm(hs, cfg.norm_eps)
        self.nh, self.nkv, self.hs, self.qk_norm = nh, nkv, hs, cfg.qk_norm

    def forward(self, x, rec, name, rotary, past):
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hs).transpose(1, 2)         # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)        # (B, nkv, T, hs)
        v = self.v_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)
        if self.qk_norm:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        z, present = self_attention(q, k, v, rec, name, scale=self.hs ** -0.5, past=past, rotary=rotary)
        return self.dense(merge_heads(z)), present                               # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.n_embd, cfg.mlp_width)
        self.fc2 = nn.Linear(cfg.mlp_width, cfg.n_embd)
        self.act = ACTIVATION[cfg.activation]

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x, rec, l, rotary, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        h = self.input_layernorm(x)                                               # one norm feeds both branches
        a, present = self.self_attn(h, rec, p + ".attn", rotary, past)
        a = rec(p + ".attn_out", a)
        m = rec(p + ".mlp_out", self.mlp(h))
        return rec(p + ".resid_post", x + a + m), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layer))
        self.final_layernorm = LayerNorm(cfg.n_embd, cfg.norm_eps)


class Phi(CausalLM):
    TIED = ("lm_head.weight", "model.embed_tokens.weight")
    OUT_PROJ, FINAL_NORM = "model.layers.{}.self_attn.dense", "model.final_layernorm"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Trunk(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=True)
        self.rotary = Rotary(cfg.rotary_dim, cfg.rope, "half")

    def final(self, x):
        return self.model.final_layernorm(x)

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        m = self.model
        offset = past_length(past, start)
        cos, sin = self.rotary.cos_sin(offset, idx.shape[1], idx.device)        # (T, rotary_dim)
        if resid is None:
            x = rec("embed", m.embed_tokens(idx))                                   # (B, T, C)
        else:
            x = resid
        x, cache = self.blocks(m.layers, x, rec, past, start, (self.rotary, cos, sin))
        x = rec("final_norm", self.final(x))
        return Output(unembed(x, self.lm_head, logits), rec.points, cache, offset, start)
