"""OPT, as transformers' OPTForCausalLM computes it.

What differs from GPT-2: learned position p reads row p + 2 of embed_positions (fairseq kept rows
0-1 for padding); the MLP is ReLU; OPT-350m is post-LN (do_layer_norm_before=False: the original
Transformer's LayerNorm after each residual add, and no final norm) and its embeddings are narrower
than the residual stream (word_embed_proj_dim 512 vs 1024: project_in after the token embedding,
project_out before the tied unembedding). Every other size is pre-LN like GPT-2.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .config import ModelConfig
from .parts import ACTIVATION, CausalLM, LayerNorm, Output, Recorder, merge_heads, past_length, self_attention, unembed


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C, b = cfg.n_embd, cfg.qkv_bias
        self.q_proj = nn.Linear(C, C, bias=b)
        self.k_proj = nn.Linear(C, C, bias=b)
        self.v_proj = nn.Linear(C, C, bias=b)
        self.out_proj = nn.Linear(C, C, bias=cfg.out_bias)
        self.nh, self.hs = cfg.n_head, cfg.head_dim

    def forward(self, x, rec, name, past):
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.nh, self.hs).transpose(1, 2)             # (B, nh, T, hs)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        # transformers scales q before q k^T; the recorded q is the projection itself
        z, present = self_attention(q, k, v, rec, name, scale=self.hs ** -0.5, past=past)
        return self.out_proj(merge_heads(z)), present                             # (B, T, C)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C = cfg.n_embd
        self.self_attn = Attention(cfg)
        self.self_attn_layer_norm = LayerNorm(C, cfg.norm_eps, affine=cfg.norm_affine)
        self.fc1 = nn.Linear(C, cfg.mlp_width, bias=cfg.mlp_bias)
        self.fc2 = nn.Linear(cfg.mlp_width, C, bias=cfg.mlp_bias)
        self.final_layer_norm = LayerNorm(C, cfg.norm_eps, affine=cfg.norm_affine)
        self.act = ACTIVATION[cfg.activation]
        self.post_ln = cfg.post_ln

    def forward(self, x, rec, l, past):
        p = f"blocks.{l}"
        x = rec(p + ".resid_pre", x)
        if self.post_ln:                     # OPT-350m: x = ln(x + f(x)) for both branches
            a, present = self.self_attn(x, rec, p + ".attn", past)
            x = self.self_attn_layer_norm(x + rec(p + ".attn_out", a))
            x = self.final_layer_norm(x + rec(p + ".mlp_out", self.fc2(self.act(self.fc1(x)))))
        else:                                # every other size: x = x + f(ln(x))
            a, present = self.self_attn(self.self_attn_layer_norm(x), rec, p + ".attn", past)
            x = x + rec(p + ".attn_out", a)
            x = x + rec(p + ".mlp_out", self.fc2(self.act(self.fc1(self.final_layer_norm(x)))))
        return rec(p + ".resid_post", x), present


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C, E = cfg.n_embd, cfg.word_embed_proj_dim or cfg.n_embd
        self.embed_tokens = nn.Embedding(cfg.vocab_size, E)
        self.embed_positions = nn.Embedding(cfg.block_size + cfg.pos_offset, C)
        if cfg.word_embed_proj_dim:
            self.project_in = nn.Linear(E, C, bias=False)
            self.project_out = nn.Linear(C, E, bias=False)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layer))
        if cfg.final_norm:
            self.final_layer_norm = LayerNorm(C, cfg.norm_eps, affine=cfg.norm_affine)


class Trunk(nn.Module):   # transformers nests the decoder: model.decoder.*
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.decoder = Decoder(cfg)


class OPT(CausalLM):
    TIED = ("lm_head.weight", "model.decoder.embed_tokens.weight")
    OUT_PROJ, FINAL_NORM = "model.decoder.layers.{}.self_attn.out_proj", "model.decoder.final_layer_norm"

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Trunk(cfg)
        self.lm_head = nn.Linear(cfg.word_embed_proj_dim or cfg.n_embd, cfg.vocab_size, bias=False)

    def position_table(self):
        """(block_size, C) learned position embeddings, row p for position p."""
        return self.model.decoder.embed_positions.weight[self.cfg.pos_offset:]

    def final(self, x):
        d = self.model.decoder
        if self.cfg.final_norm:
            x = d.final_layer_norm(x)
        if self.cfg.word_embed_proj_dim:
            x = d.project_out(x)                                                 # (B, T, E)
        return x

    def forward(self, idx, past=None, hooks=None, logits="all", keep=None, start=0, resid=None) -> Output:
        """idx (B, T) token ids following the `past` cache (None: from position 0).
        start, resid: run only blocks start.. on resid (B, T, C), the stream entering block `start`
        (idx then only gives the positions; past is indexed by layer)."""
        rec = Recorder(hooks or {}, keep)
        d, cfg = self.model.decoder, self.cfg
        B, T = idx.shape
        offset = past_length(past, start)
        if offset + T > cfg.block_size:
            raise ValueError(f"{offset + T} positions exceed the model's {cfg.block_size} learned positions")
        if resid is None:
            tok = d.embed_tokens(idx)                                                # (B, T, E)
            if cfg.word_embed_proj_dim:
                tok = d.project_in(tok)                                              # (B, T, C)
            tok = rec("embed", tok)
            pos = torch.arange(offset, offset + T, device=idx.device) + cfg.pos_offset
            x = tok + rec("pos_embed", d.embed_positions(pos)[None])                 # (1, T, C) broadcast over B
        else:
            x = resid
        x, cache = self.blocks(d.layers, x, rec, past, start)
        x = rec("final_norm", self.final(x))    # what the unembedding reads
        return Output(unembed(x, self.lm_head, logits), rec.points, cache, offset, start)
