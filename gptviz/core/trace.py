"""Trace: everything one forward pass revealed, as numpy, with the costly views computed on demand.

A trace holds what LoadedModel's cache keeps: the residual stream before every block and after the
last (L+1, T, C), each layer's recorded queries and keys/values, and per-position norms of the
embeddings and of every block's attention and MLP outputs. Attention patterns are recomputed from
the recorded q and k with the family's scale and each layer's window (never T² x layers x heads at
once); logits apply the family's final norm and unembedding only at the positions a caller asks for.

Rotary families (positions enter by rotating q and k) add no position vector to the residual
stream: their position_embedding_norm is zeros, and there is no pos_embed point.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ..analysis.probabilities import softmax
from ..models.parts import pattern_at
from .tokenizer import Piece, Tokenizer

# heads per step when a whole layer's pattern is computed: scores of one step stay under ~16 MiB
_STEP_ELEMENTS = 1 << 22
_POINT = re.compile(r"^blocks\.(\d+)\.(resid_pre|resid_post|attn\.q|attn\.k|attn\.v|attn\.z|attn_out|mlp_out)$")


class Trace:
    def __init__(self, model, tokenizer: Tokenizer, token_ids: np.ndarray, resid: list[torch.Tensor],
                 queries: list[torch.Tensor], kv: list[tuple[torch.Tensor, torch.Tensor]], stats: torch.Tensor,
                 truncated: bool, n_prompt_tokens: int, warnings: list[str], ablation=None,
                 replaced: dict | None = None):
        self._model = model
        self.ablation = ablation                     # interventions.Ablation this trace ran with, None: clean
        self._replaced = replaced or {}              # what the ablation put in per (l, h) / ("mlp", l)
        self._cfg = model.cfg
        self._tokenizer = tokenizer
        self._resid = resid                          # L+1 x (T, C): before each block, after the last
        self._q = queries                            # per layer (nh, T, hs), rotated
        self._kv = kv                                # per layer (k, v), each (nkv, T, hs)
        self.token_ids = token_ids                   # (T,) int64
        self.truncated = truncated                   # the prompt had more than block_size tokens
        self.n_prompt_tokens = n_prompt_tokens       # tokens before truncation
        self.warnings = warnings
        self.tokens: list[Piece] = tokenizer.pieces(token_ids)
        L = self._cfg.n_layer
        s = stats.numpy()                            # (T, 2 + 2L)
        self.token_embedding_norm = s[:, 0].copy()               # (T,) the token embedding as it enters
        self.position_embedding_norm = s[:, 1].copy()            # (T,) learned positions; zeros for rotary
        self.input_norm = _np(resid[0].norm(dim=-1))             # (T,) the stream entering block 0
        self._attn_norm = s[:, 2:2 + L].T.copy()                 # (L, T)
        self._mlp_norm = s[:, 2 + L:].T.copy()                   # (L, T)

    @property
    def T(self) -> int:
        return len(self.token_ids)

    @property
    def n_layer(self) -> int:
        return len(self._q)

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layer:
            raise IndexError(f"layer {layer} out of range 0..{self.n_layer - 1}")

    @torch.no_grad()
    def attention_rows(self, layer: int, rows, out: np.ndarray | None = None) -> np.ndarray:
        """(H, len(rows), T) float32 attention of the given query positions: rows sum to 1, zero above
        the diagonal and outside the layer's window. Computed a group of heads at a time, into `out` when
        given (a C-contiguous float32 array of that shape: memory already paged in)."""
        self._check_layer(layer)
        q, k = self._q[layer], self._kv[layer][0]                 # (nh, T, hs), (nkv, T, hs)
        rows = np.array(rows, dtype=np.int64).reshape(-1)
        pos = torch.as_tensor(rows, device=q.device)              # (R,)
        H, R, T = q.shape[0], len(pos), k.shape[1]
        # every row in order (the whole pattern): q is read as it is, not gathered
        every = R == T and (R == 0 or (rows[0] == 0 and bool((np.diff(rows) == 1).all())))
        group = H // k.shape[0]                                   # query heads per KV head
        step = max(group, (_STEP_ELEMENTS // max(1, R * T)) // group * group)
        if out is None:
            out = np.empty((H, R, T), np.float32)
        elif out.shape != (H, R, T) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be C-contiguous float32 {(H, R, T)}, not {out.dtype} {out.shape}")
        for h in range(0, H, step):                               # whole KV groups per step
            qs = (q[h:h + step] if every else q[h:h + step, pos])[None]   # (1, s, R, hs)
            ks = k[h // group:(h + step) // group][None]          # (1, s/group, T, hs)
            args = (qs, ks, self._cfg.scale, pos, self._cfg.window(layer))
            if q.device.type == "cpu":                            # the softmax writes straight into out
                pattern_at(*args, out=torch.from_numpy(out[h:h + step])[None])
            else:
                out[h:h + step] = _np(pattern_at(*args)[0])
        return out

    def attention(self, layer: int, out: np.ndarray | None = None) -> np.ndarray:
        """(H, T, T) float32 softmax(q k^T * scale) with the causal (and window) mask, from the recorded
        queries and keys: rows sum to 1, zero above the diagonal. `out`: as attention_rows."""
        return self.attention_rows(layer, np.arange(self.T), out)

    def attention_shape(self, layer: int) -> tuple[int, int, int]:
        """(H, T, T) of attention(layer), without computing it."""
        self._check_layer(layer)
        return (self._q[layer].shape[0], self.T, self.T)

    def point(self, name: str) -> np.ndarray:
        """A numpy float32 copy of an activation point (DESIGN.md names, batch dimension dropped):
        embed, pos_embed (T, C); blocks.{l}.resid_pre|resid_post|attn_out|mlp_out (T, C);
        blocks.{l}.attn.q|z (nh, T, hs), attn.k|v (nkv, T, hs); final_norm (T, C or E).
        Points the trace does not keep (embed, pos_embed, z, attn_out, mlp_out) are recomputed by one
        forward pass over the trace's tokens."""
        m = _POINT.match(name)
        if m:
            layer, what = int(m.group(1)), m.group(2)
            self._check_layer(layer)
            kept = {"resid_pre": lambda: self._resid[layer], "resid_post": lambda: self._resid[layer + 1],
                    "attn.q": lambda: self._q[layer], "attn.k": lambda: self._kv[layer][0],
                    "attn.v": lambda: self._kv[layer][1]}
            if what in kept:
                return _np(kept[what]()).copy()
        elif name == "final_norm":
            with torch.no_grad():
                return _np(self._model.final(self._resid[-1])).copy()
        elif name not in ("embed", "pos_embed"):
            raise KeyError(f"no activation point {name!r}; points are embed, pos_embed, blocks.{{l}}.resid_pre, "
                           "blocks.{l}.attn.q|k|v|z, blocks.{l}.attn_out, blocks.{l}.mlp_out, "
                           "blocks.{l}.resid_post, final_norm")
        if name == "pos_embed" and self._cfg.positions != "learned":
            raise KeyError(f"no activation point 'pos_embed': {self._cfg.model_type} has rotary positions "
                           "(they rotate q and k; nothing is added to the residual stream)")
        with torch.no_grad():
            idx = torch.from_numpy(self.token_ids).to(self._resid[0].device)[None]
            out = self._model(idx, logits="none", keep=lambda n: n == name, hooks=self._hooks())
        return _np(out.points[name][0])

    def _hooks(self) -> dict:
        """The ablation's hooks, for a pass recomputing points of the same (ablated) model."""
        if self.ablation is None:
            return {}
        from .interventions import ablation_hooks
        return ablation_hooks(self.ablation)

    @torch.no_grad()
    def block_contributions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Norms per layer and position: the residual stream (L+1, T), and what each block's attention and
        MLP added to it (L, T) each, read from the recorded attn_out and mlp_out points."""
        resid = np.stack([_np(r.norm(dim=-1)) for r in self._resid]) if self._resid else np.zeros((0, self.T))
        return resid.astype(np.float32), self._attn_norm, self._mlp_norm

    @torch.no_grad()
    def residual(self, layer: int) -> np.ndarray:
        """(T, C) residual stream after block `layer`-1 (0: the embedding sum, L: the last block's output)."""
        return _np(self._resid[layer]).copy()

    @torch.no_grad()
    def logits(self, positions=None) -> np.ndarray:
        """(T, V) float32 logits, or (len(positions), V) for the positions asked."""
        h = self._resid[-1]
        if positions is not None:
            h = h[torch.as_tensor(np.array(positions, dtype=np.int64), device=h.device).reshape(-1)]
        return _np(self._model.logits_of(h))                     # (P, V)

    @torch.no_grad()
    def logit_lens(self, positions, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and probabilities, (L+1, P, k) each, of the family's final norm (and OPT's project_out)
        + unembedding applied to the residual stream after the embedding (row 0) and after every block
        (row L: the model's own prediction). Ids the tokenizer cannot decode are excluded."""
        pos = torch.as_tensor(np.array(positions, dtype=np.int64), device=self._resid[0].device).reshape(-1)
        mask = torch.from_numpy(self.decodable_mask()).to(pos.device)
        ids, probs = [], []
        for r in self._resid:                                    # one layer at a time: (P, V) each
            logits = self._model.logits_of(r[pos]).float()
            # neginf too: nan_to_num would otherwise turn the mask's -inf into a finite minimum, and a NaN
            # model would then put all its mass on the undecodable ids
            logits = logits.masked_fill(~mask, float("-inf")).nan_to_num_(nan=float("-inf"), neginf=float("-inf"))
            top = logits.softmax(dim=-1).nan_to_num_(0.0).topk(k, dim=-1)
            ids.append(_np(top.indices).astype(np.int64))
            probs.append(_np(top.values))
        return np.stack(ids), np.stack(probs)

    def logit_attribution(self, token_id: int, position: int = -1, minus: int | None = None):
        """Direct logit attribution of logits[position, token_id] (minus logits[position, minus]):
        an analysis.attribution.Attribution with .embed, .heads (L, H), .attn_bias (L,), .mlps (L,) and
        .bias, through the final norm with its scale frozen at its actual value, summing to the logit
        (core/attribution.py says how). Post-LN models are refused (ValueError)."""
        from .attribution import logit_attribution
        return logit_attribution(self, token_id, position, minus)

    def surprisal(self, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(T-1,) -log p of tokens 1.. given their prefix (nats), and the top-k ids and probabilities the
        model expected at each of them, (T-1, k) each."""
        from .attribution import surprisal
        return surprisal(self, k)

    def decodable_mask(self) -> np.ndarray:
        """(V,) bool: ids the tokenizer can decode (a padded vocabulary has more ids than the tokenizer)."""
        V = self._cfg.vocab_size
        return np.arange(V) < min(V, self._tokenizer.n_vocab)

    def next_token_probs(self, temperature: float = 1.0) -> np.ndarray:
        """(V,) probabilities at the last position after softmax(logits / temperature); undecodable ids get 0.

        temperature 0 is greedy: all mass on the arg-max.
        """
        if self.T == 0:
            raise ValueError("empty prompt: there is no position to predict from")
        logits = self.logits([self.T - 1])[0]
        return softmax(logits, temperature, self.decodable_mask()).astype(np.float32)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
