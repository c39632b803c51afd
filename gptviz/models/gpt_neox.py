"""GPT-NeoX (Pythia, GPT-NeoX-20B), as transformers' GPTNeoXForCausalLM computes it.

What differs from GPT-2: rotary positions on the first rotary_pct of each head (Pythia: 25%), the
fused query_key_value weight is laid out per head ([q_h k_h v_h] for each head h), the residual is
parallel by default (x + attn(ln1 x) + mlp(ln2 x)) or sequential (use_parallel_residual=False), and
the unembedding `embed_out` is its own matrix.
"""
from __future__ import annotations

import torch.nn as nn

from .config import ModelConfig
from .parts import (ACTIVATION, CausalLM, LayerNorm, Output, Recorder, Rotary, merge_heads, past_length,
                    self_attention, unembed)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.query_key_value = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.qkv_bias)
        self.dense = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.out_bias)
        self.n_head, self.hs = cfg.n_head, cfg.head_dim

    def forward(self, x, rec, name, rotary, past):
        B, T, C = x.shape
        qkv = self.query_key_value(x).view(B, T, self.n_head, 3 * self.hs).transpose(1, 2)  # (B, nh, T, 3hs)
        q, k, v = qkv.chunk(3, dim=-1)                                                     # (B, nh, T, hs)
        z, present = self_attention(q, k, v, rec, name, scale=self.hs ** -0.5, past=past, rotary=rotary)
        return self.dense(merge_heads(z)), present                                          # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(cfg.n_embd, cfg.mlp_width)
        self.dense_4h_to_h = nn.Linear(cfg.mlp_width, cfg.n_embd)
        self.act = ACTIVATION[cfg.activation]

    def forward(self, x):
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.post_attention_layernorm = LayerNorm(cfg.n_embd, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.mlp = MLP(cfg)
        self.parallel = cfg.parallel_residual

    def forward(self, x, rec, l, rotary, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        a, present = self.attention(self.input_layernorm(x), rec, p + ".attn", rotary, past)
        a = rec(p + ".attn_out", a)
        if self.parallel:     # both branches read the block's input
            m = rec(p + ".mlp_out", self.mlp(self.post_attention_layernorm(x)))
            x = x + a + m
        else:
            x = x + a
            x = x + rec(p + ".mlp_out", self.mlp(self.post_attention_layernorm(x)))
        return rec(p + ".resid_post", x), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_in = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.n_layer))
        self.final_layer_norm = LayerNorm(cfg.n_embd, cfg.norm_eps)


class GPTNeoX(CausalLM):
    TIED = ("embed_out.weight", "gpt_neox.embed_in.weight")
    OUT_PROJ, FINAL_NORM = "gpt_neox.layers.{}.attention.dense", "gpt_neox.final_layer_norm"
    RENAMES = {"lm_head.weight": "embed_out.weight"}   # transformers 5 calls embed_out lm_head in memory

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.gpt_neox = Trunk(cfg)
        self.embed_out = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.rotary = Rotary(cfg.rotary_dim, cfg.rope, "half")

    def final(self, x):
        return self.gpt_neox.final_layer_norm(x)

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        t = self.gpt_neox
        offset = past_length(past, start)
        cos, sin = self.rotary.cos_sin(offset, idx.shape[1], idx.device)        # (T, rotary_dim)
        if resid is None:
            x = rec("embed", t.embed_in(idx))                                       # (B, T, C)
        else:
            x = resid
        x, cache = self.blocks(t.layers, x, rec, past, start, (self.rotary, cos, sin))
        x = rec("final_norm", self.final(x))
        return Output(unembed(x, self.embed_out, logits), rec.points, cache, offset, start)
