"""GPT-Neo, as transformers' GPTNeoForCausalLM computes it: the open replica of GPT-3's layout.

A GPT-2 block (learned positions, pre-LN, GELU MLP, tied unembedding) with two differences:
- layers alternate global (full causal) and local attention, where a query reads only the last
  window_size positions including itself (GPT-3's "alternating dense and locally banded" layers;
  config attention_types [[["global", "local"], 12]] or its expansion attention_layers);
- QK^T is not scaled by 1/sqrt(head_dim) (the scale is 1).
The projections are separate q/k/v (no bias) and out_proj (with bias), nested in attn.attention.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig
from .parts import ACTIVATION, CausalLM, LayerNorm, Output, Recorder, merge_heads, past_length, self_attention, unembed


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int | None):
        super().__init__()
        C = cfg.n_embd
        self.q_proj = nn.Linear(C, C, bias=False)
        self.k_proj = nn.Linear(C, C, bias=False)
        self.v_proj = nn.Linear(C, C, bias=False)
        self.out_proj = nn.Linear(C, C, bias=True)
        self.nh, self.hs, self.window = cfg.n_head, cfg.head_dim, window

    def forward(self, x, rec, name, past):
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.nh, self.hs).transpose(1, 2)             # (B, nh, T, hs)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        z, present = self_attention(q, k, v, rec, name, scale=1.0, window=self.window, past=past)
        return self.out_proj(merge_heads(z)), present                             # (B, T, C)


class AttentionWrapper(nn.Module):   # transformers nests the attention one level deeper: attn.attention
    def __init__(self, cfg: ModelConfig, window: int | None):
        super().__init__()
        self.attention = SelfAttention(cfg, window)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.mlp_width)
        self.c_proj = nn.Linear(cfg.mlp_width, cfg.n_embd)
        self.act = ACTIVATION[cfg.activation]

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = AttentionWrapper(cfg, cfg.windows[layer])
        self.ln_2 = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, rec, l, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        a, present = self.attn.attention(self.ln_1(x), rec, p + ".attn", past)
        x = x + rec(p + ".attn_out", a)
        x = x + rec(p + ".mlp_out", self.mlp(self.ln_2(x)))
        return rec(p + ".resid_post", x), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList(Block(cfg, l) for l in range(cfg.n_layer))
        self.ln_f = LayerNorm(cfg.n_embd, cfg.norm_eps)


class GPTNeo(CausalLM):
    TIED = ("lm_head.weight", "transformer.wte.weight")
    OUT_PROJ, FINAL_NORM = "transformer.h.{}.attn.attention.out_proj", "transformer.ln_f"

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
