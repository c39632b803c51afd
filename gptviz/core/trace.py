"""Trace: everything one forward pass revealed, as numpy, with the costly views computed on demand.

A trace keeps the residual stream (L+1, T, C) and each layer's keys; attention patterns and logits
are derived from them only when asked, so memory does not grow as layers x heads x T^2 and the
50k-way unembedding runs only at the positions a caller needs.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..analysis.probabilities import softmax
from .model import GPT
from .tokenizer import Piece, Tokenizer


class Trace:
    def __init__(self, model: GPT, tokenizer: Tokenizer, token_ids: np.ndarray, resid: torch.Tensor,
                 keys: list[torch.Tensor], truncated: bool, n_prompt_tokens: int, warnings: list[str],
                 values: list[torch.Tensor] | None = None):
        self._model = model
        self._tokenizer = tokenizer
        self._resid = resid                          # (L+1, T, C): after the embedding, after each block
        self._keys = keys                            # per layer (nh, T, hs)
        self._values = values                        # per layer (nh, T, hs), for block contributions
        self.token_ids = token_ids                   # (T,) int64
        self.truncated = truncated                   # the prompt had more than block_size tokens
        self.n_prompt_tokens = n_prompt_tokens       # tokens before truncation
        self.warnings = warnings
        self.tokens: list[Piece] = tokenizer.pieces(token_ids)
        wte = model.transformer.wte.weight
        wpe = model.transformer.wpe.weight
        ids = torch.from_numpy(token_ids).to(wte.device)
        with torch.no_grad():
            self.token_embedding_norm = _np(wte[ids].norm(dim=-1))           # (T,)
            self.position_embedding_norm = _np(wpe[: len(ids)].norm(dim=-1))  # (T,)
            self.input_norm = _np(resid[0].norm(dim=-1))                      # (T,)

    @property
    def T(self) -> int:
        return len(self.token_ids)

    @property
    def n_layer(self) -> int:
        return len(self._keys)

    def _queries(self, layer: int, rows=None) -> torch.Tensor:
        """(nh, R, hs) queries of `layer` at the given positions (all when None), recomputed from the cached
        residual stream: only the query third of c_attn, since keys are cached."""
        block = self._model.transformer.h[layer]
        resid = self._resid[layer] if rows is None else self._resid[layer][rows]
        x = block.ln_1(resid)                                          # (R, C)
        C = x.shape[-1]
        w = block.attn.c_attn.weight[:C]                               # (C, C): the query rows of (3C, C)
        b = None if block.attn.c_attn.bias is None else block.attn.c_attn.bias[:C]
        q = torch.nn.functional.linear(x, w, b)                        # (R, C)
        return q.view(q.shape[0], block.attn.n_head, C // block.attn.n_head).transpose(0, 1)   # (nh, R, hs)

    @torch.no_grad()
    def attention(self, layer: int) -> np.ndarray:
        """(H, T, T) float32 softmax(QK^T/sqrt(hs)) with the causal mask: rows sum to 1, zero above the diagonal.

        Computed from the cached residual stream and keys; long prompts go one head at a time into the
        output, so the only T x T memory is the result and one head's scores.
        """
        if not 0 <= layer < self.n_layer:
            raise IndexError(f"layer {layer} out of range 0..{self.n_layer - 1}")
        q = self._queries(layer)                               # (nh, T, hs)
        k = self._keys[layer]                                  # (nh, T, hs)
        H, T, hs = k.shape
        future = torch.ones(T, T, dtype=torch.bool, device=k.device).triu_(1)
        scale = 1.0 / math.sqrt(hs)
        if H * T * T <= 1 << 22:                               # small: all heads in one batched op
            s = (q @ k.transpose(-1, -2)).float().mul_(scale).masked_fill_(future, float("-inf"))
            return _np(torch.softmax(s, dim=-1))
        out = torch.empty(H, T, T, dtype=torch.float32)
        for h in range(H):
            s = (q[h] @ k[h].transpose(0, 1)).float().mul_(scale)     # (T, T)
            s.masked_fill_(future, float("-inf"))
            out[h] = torch.softmax(s, dim=-1).cpu()
        return out.numpy()

    @torch.no_grad()
    def attention_rows(self, layer: int, rows) -> np.ndarray:
        """(H, len(rows), T) attention of the given query positions only: cheap overviews of long prompts."""
        rows_t = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=self._resid.device)
        q = self._queries(layer, rows_t)                       # (nh, R, hs)
        k = self._keys[layer]                                  # (nh, T, hs)
        s = (q @ k.transpose(-1, -2)).float() / math.sqrt(k.shape[-1])   # (nh, R, T)
        future = torch.arange(k.shape[1], device=k.device)[None, :] > rows_t[:, None]   # (R, T)
        return _np(s.masked_fill_(future, float("-inf")).softmax(dim=-1))

    @torch.no_grad()
    def block_contributions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Norms per layer and position: the residual stream (L+1, T), and what each block's attention and
        MLP added to it (L, T) each. Attention outputs are recomputed from the cached keys and values;
        the MLP's is the rest of the block's update."""
        L = self.n_layer
        resid_norm = self._resid.norm(dim=-1)                                        # (L+1, T)
        attn = torch.empty(L, self.T)
        mlp = torch.empty(L, self.T)
        for layer in range(L):
            block = self._model.transformer.h[layer]
            a = torch.from_numpy(self.attention(layer)).to(self._resid.device)       # (nh, T, T)
            y = (a @ self._values[layer]).transpose(0, 1).reshape(self.T, -1)         # (T, C)
            out = block.attn.c_proj(y)                                               # (T, C)
            attn[layer] = out.norm(dim=-1).cpu()
            mlp[layer] = (self._resid[layer + 1] - self._resid[layer] - out).norm(dim=-1).cpu()
        return _np(resid_norm), attn.numpy(), mlp.numpy()

    @torch.no_grad()
    def residual(self, layer: int) -> np.ndarray:
        """(T, C) residual stream after block `layer`-1 (0: the embedding sum, L: the last block's output)."""
        return _np(self._resid[layer])

    @torch.no_grad()
    def logits(self, positions=None) -> np.ndarray:
        """(T, V) float32 logits, or (len(positions), V) for the positions asked."""
        h = self._resid[-1] if positions is None else self._resid[-1][torch.as_tensor(positions, dtype=torch.long)]
        h = self._model.transformer.ln_f(h)                    # (P, C)
        return _np(self._model.lm_head(h))                     # (P, V)

    @torch.no_grad()
    def logit_lens(self, positions, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and probabilities, (L+1, P, k) each, of ln_f + unembedding applied to the residual stream
        after the embedding (row 0) and after every block (row L: the model's own prediction).

        Ids the tokenizer cannot decode are excluded, as in next_token_probs.
        """
        pos = torch.as_tensor(np.asarray(positions), dtype=torch.long, device=self._resid.device)
        h = self._model.transformer.ln_f(self._resid[:, pos])                   # (L+1, P, C)
        logits = self._model.lm_head(h).float()                                 # (L+1, P, V)
        mask = torch.from_numpy(self.decodable_mask()).to(logits.device)
        # neginf too: nan_to_num would otherwise turn the mask's -inf into a finite minimum, and a NaN model
        # would then put all its mass on the undecodable ids
        logits = logits.masked_fill(~mask, float("-inf")).nan_to_num_(nan=float("-inf"), neginf=float("-inf"))
        probs = logits.softmax(dim=-1).nan_to_num_(0.0)
        top = probs.topk(k, dim=-1)
        return _np(top.indices).astype(np.int64), _np(top.values)

    def decodable_mask(self) -> np.ndarray:
        """(V,) bool: ids the tokenizer can decode (a padded vocabulary has more ids than the tokenizer)."""
        V = self._model.config.vocab_size
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
