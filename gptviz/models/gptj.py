"""GPT-J, as transformers' GPTJForCausalLM computes it.

What differs from GPT-2: no learned positions; rotary on the first rotary_dim dims of each head
(GPT-J-6B: 64 of 256), rotating interleaved pairs (2i, 2i+1) rather than halves; attention and MLP
run in parallel from one LayerNorm, x + attn(ln_1 x) + mlp(ln_1 x); q/k/v/out projections have no
bias; the unembedding lm_head is its own matrix with a bias.
"""
from __future__ import annotations

import torch.nn as nn

from .config import ModelConfig
from .parts import (ACTIVATION, CausalLM, LayerNorm, Output, Recorder, Rotary, merge_heads, past_length,
                    self_attention, unembed)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C = cfg.n_embd
        self.q_proj = nn.Linear(C, C, bias=False)
        self.k_proj = nn.Linear(C, C, bias=False)
        self.v_proj = nn.Linear(C, C, bias=False)
        self.out_proj = nn.Linear(C, C, bias=False)
        self.nh, self.hs = cfg.n_head, cfg.head_dim

    def forward(self, x, rec, name, rotary, past):
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.nh, self.hs).transpose(1, 2)             # (B, nh, T, hs)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        z, present = self_attention(q, k, v, rec, name, scale=self.hs ** -0.5, past=past, rotary=rotary)
        return self.out_proj(merge_heads(z)), present                             # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc_in = nn.Linear(cfg.n_embd, cfg.mlp_width)
        self.fc_out = nn.Linear(cfg.mlp_width, cfg.n_embd)
        self.act = ACTIVATION[cfg.activation]

    def forward(self, x):
        return self.fc_out(self.act(self.fc_in(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x, rec, l, rotary, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        h = self.ln_1(x)                                                          # one norm feeds both branches
        a, present = self.attn(h, rec, p + ".attn", rotary, past)
        a = rec(p + ".attn_out", a)
        m = rec(p + ".mlp_out", self.mlp(h))
        return rec(p + ".resid_post", x + a + m), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = LayerNorm(cfg.n_embd, cfg.norm_eps)


class GPTJ(CausalLM):
    TIED = ("lm_head.weight", "transformer.wte.weight")
    OUT_PROJ, FINAL_NORM = "transformer.h.{}.attn.out_proj", "transformer.ln_f"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.transformer = Trunk(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=True)
        self.rotary = Rotary(cfg.rotary_dim, cfg.rope, "interleaved")

    def final(self, x):
        return self.transformer.ln_f(x)

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        t = self.transformer
        offset = past_length(past, start)
        cos, sin = self.rotary.cos_sin(offset, idx.shape[1], idx.device)        # (T, rotary_dim)
        if resid is None:
            x = rec("embed", t.wte(idx))                                            # (B, T, C)
        else:
            x = resid
        x, cache = self.blocks(t.h, x, rec, past, start, (self.rotary, cos, sin))
        x = rec("final_norm", self.final(x))
        return Output(unembed(x, self.lm_head, logits), rec.points, cache, offset, start)
