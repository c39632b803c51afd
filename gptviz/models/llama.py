"""The Llama family, as transformers' LlamaForCausalLM (and Mistral/Qwen2/Qwen3) computes it:
Llama, Mistral, Qwen2, Qwen3, SmolLM (a Llama).

What differs from GPT-2: no learned positions (rotary on every head, rotate-half pairs), RMSNorm
without bias, a SwiGLU MLP down(silu(gate x) * up x), grouped-query attention (n_kv_head KV heads
shared by n_head query heads), no biases except Qwen2's on q/k/v. Mistral (and Qwen with
use_sliding_window) lets each query read only the last `sliding_window` positions; Qwen3 RMS-norms
each head's q and k before the rotation and sets head_dim on its own.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig
from .parts import (CausalLM, GatedMLP, Output, Recorder, RMSNorm, Rotary, merge_heads, past_length,
                    self_attention, unembed)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, window: int | None, plus_one: bool = False):
        super().__init__()
        C, nh, nkv, hs = cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.q_proj = nn.Linear(C, nh * hs, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(C, nkv * hs, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(C, nkv * hs, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(nh * hs, C, bias=cfg.out_bias)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(hs, cfg.norm_eps, plus_one)
            self.k_norm = RMSNorm(hs, cfg.norm_eps, plus_one)
        self.nh, self.nkv, self.hs, self.window = nh, nkv, hs, window
        self.qk_norm = cfg.qk_norm

    def forward(self, x, rec, name, rotary, past):
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hs)                          # (B, T, nh, hs)
        k = self.k_proj(x).view(B, T, self.nkv, self.hs)                         # (B, T, nkv, hs)
        v = self.v_proj(x).view(B, T, self.nkv, self.hs)
        if self.qk_norm:                                                          # Qwen3: per head, before rotary
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)        # (B, nh|nkv, T, hs)
        z, present = self_attention(q, k, v, rec, name, scale=self.hs ** -0.5, window=self.window,
                                    past=past, rotary=rotary)
        return self.o_proj(merge_heads(z)), present                               # (B, T, C)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, plus_one: bool = False):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps, plus_one)
        self.self_attn = Attention(cfg, cfg.windows[layer], plus_one)
        self.post_attention_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps, plus_one)
        self.mlp = GatedMLP(cfg.n_embd, cfg.mlp_width, cfg.activation, cfg.mlp_bias)

    def forward(self, x, rec, l, rotary, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        a, present = self.self_attn(self.input_layernorm(x), rec, p + ".attn", rotary, past)
        x = x + rec(p + ".attn_out", a)
        x = x + rec(p + ".mlp_out", self.mlp(self.post_attention_layernorm(x)))
        return rec(p + ".resid_post", x), present


class Trunk(nn.Module):
    def __init__(self, cfg: ModelConfig, plus_one: bool = False):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.layers = nn.ModuleList(DecoderLayer(cfg, l, plus_one) for l in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps, plus_one)


class Llama(CausalLM):
    TIED = ("lm_head.weight", "model.embed_tokens.weight")
    OUT_PROJ, FINAL_NORM = "model.layers.{}.self_attn.o_proj", "model.norm"
    PLUS_ONE = False        # Gemma: RMSNorm scales by (1 + w)
    EMBED_SCALE = False     # Gemma: embeddings times sqrt(n_embd)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Trunk(cfg, self.PLUS_ONE)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.rotary = Rotary(cfg.rotary_dim, cfg.rope, "half")

    def final(self, x):
        return self.model.norm(x)

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        m = self.model
        offset = past_length(past, start)
        cos, sin = self.rotary.cos_sin(offset, idx.shape[1], idx.device)        # (T, rotary_dim)
        if resid is None:
            x = m.embed_tokens(idx)                                                 # (B, T, C)
            if self.EMBED_SCALE:
                # transformers rounds sqrt(d) to the model dtype first (in bf16 sqrt(3072) becomes 55.5)
                x = x * torch.tensor(self.cfg.n_embd ** 0.5, dtype=x.dtype)
            x = rec("embed", x)
        else:
            x = resid
        x, cache = self.blocks(m.layers, x, rec, past, start, (self.rotary, cos, sin))
        x = rec("final_norm", self.final(x))
        return Output(unembed(x, self.lm_head, logits), rec.points, cache, offset, start)
