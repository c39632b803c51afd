"""LoadedModel: a model, its tokenizer and a prefix cache, so each keystroke computes only what changed."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .config import GPTConfig
from .memory import return_freed_memory_promptly
from .model import GPT
from .tokenizer import CharTokenizer, Tokenizer
from .unembedding import with_head
from .trace import Trace


@contextmanager
def _skip_init():
    """nn.Embedding/nn.Linear initialise their weights when built. On the meta device that runs torch's
    Python meta kernels, whose first use imports torch._dynamo (~2.5 s of a 2-core start-up), for values
    the loaded weights replace anyway. (Not thread-safe: nothing else builds modules while a model loads.)"""
    names = ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_")
    saved = {n: getattr(nn.init, n) for n in names}
    for n in names:
        setattr(nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


class _Cache:
    """The last traced token sequence with its residual stream and per-layer keys/values."""

    def __init__(self, ids: np.ndarray, resid: torch.Tensor, kvs: list[tuple[torch.Tensor, torch.Tensor]]):
        self.ids = ids          # (T,)
        self.resid = resid      # (L+1, T, C)
        self.kvs = kvs          # per layer: k, v each (nh, T, hs)


class LoadedModel:
    def __init__(self, ckpt, device: str = "cpu"):
        """`ckpt`: what a loader returns (gptviz.checkpoints.loaded.Checkpoint): config, weights, tokenizer, facts."""
        return_freed_memory_promptly()
        self.config: GPTConfig = ckpt.config
        self.tokenizer: Tokenizer = ckpt.tokenizer
        self.name = ckpt.name
        self.source = ckpt.source
        self.format = ckpt.fmt
        self.training = ckpt.training
        self.warnings = list(ckpt.warnings)
        self.device = torch.device(device)
        with torch.device("meta"), _skip_init():   # no random init, no second copy: the loaded tensors are used
            model = GPT(self.config)
        model.load_state_dict(with_head(ckpt.state_dict, self.config.tie_word_embeddings), strict=True, assign=True)
        self.model = model.to(self.device).eval()
        V, n = self.config.vocab_size, self.tokenizer.n_vocab
        if n > V:
            self.warnings.append(f"tokenizer has {n} ids but the model only {V}; higher ids are dropped from prompts")
        elif V > n:
            self.warnings.append(f"the model's vocabulary has {V} ids, the tokenizer {n}: "
                                 f"the {V - n} ids without a token are never shown or sampled")
        self._cache: _Cache | None = None
        self.last_reused = 0    # tokens taken from the cache by the last trace (for status and benchmarks)

    @property
    def n_params(self) -> int:
        return self.config.n_params()

    def encode(self, text: str, prepend_bos: bool = False) -> tuple[list[int], list[str]]:
        warnings = []
        ids = self.tokenizer.encode(text)
        if isinstance(self.tokenizer, CharTokenizer):
            unknown = self.tokenizer.unknown_chars(text)
            if unknown:
                warnings.append(f"characters not in the vocabulary were skipped: {''.join(unknown)!r}")
        if prepend_bos:
            if self.tokenizer.eot_id is None:
                warnings.append("this tokenizer has no <|endoftext|> token to prepend")
            else:
                ids = [self.tokenizer.eot_id] + ids
        if any(i >= self.config.vocab_size for i in ids):
            ids = [i for i in ids if i < self.config.vocab_size]
            warnings.append("ids beyond the model's vocabulary were dropped")
        return ids, warnings

    def trace(self, text: str, prepend_bos: bool = False) -> Trace:
        """One forward pass over `text`, reusing the cached keys/values of the unchanged token prefix."""
        ids, warnings = self.encode(text, prepend_bos)
        return self.trace_ids(ids, warnings)

    @torch.no_grad()
    def trace_ids(self, ids, warnings: list[str] | None = None) -> Trace:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n_prompt = len(ids)
        truncated = n_prompt > self.config.block_size
        if truncated:
            ids = ids[-self.config.block_size:]   # positions restart at 0 for the window
        T = len(ids)
        reuse = self._common_prefix(ids)
        c = self._cache
        if T == 0:
            L, C = self.config.n_layer, self.config.n_embd
            resid = torch.zeros(L + 1, 0, C, device=self.device)
            kvs = [(torch.zeros(self.config.n_head, 0, self.config.head_size, device=self.device),) * 2] * L
        elif reuse == T:                        # same tokens, or a deletion at the end: slice, compute nothing
            resid = c.resid[:, :T]
            kvs = [(k[:, :T], v[:, :T]) for k, v in c.kvs]
        else:
            past = [(k[:, :reuse], v[:, :reuse]) for k, v in c.kvs] if reuse else None
            new_resid, kvs = self.model.run(torch.from_numpy(ids[reuse:]).to(self.device), reuse, past)
            resid = torch.cat([c.resid[:, :reuse], new_resid], dim=1) if reuse else new_resid  # (L+1, T, C)
        self._cache = _Cache(ids, resid, kvs)
        self.last_reused = reuse
        return Trace(self.model, self.tokenizer, ids, resid, [k for k, _ in kvs], truncated, n_prompt,
                     list(self.warnings) + list(warnings or []), values=[v for _, v in kvs])

    def _common_prefix(self, ids: np.ndarray) -> int:
        c = self._cache
        if c is None or not len(c.ids) or not len(ids):
            return 0
        n = min(len(c.ids), len(ids))
        diff = np.flatnonzero(c.ids[:n] != ids[:n])
        return int(diff[0]) if len(diff) else n

    def fork(self) -> "LoadedModel":
        """The same model and tokenizer with a prefix cache of its own (e.g. a second prompt to compare)."""
        other = object.__new__(LoadedModel)
        other.__dict__.update(self.__dict__)
        other._cache = None
        other.last_reused = 0
        return other

    def clear_cache(self) -> None:
        self._cache = None

    def describe(self) -> str:
        c = self.config
        return (f"{self.name}: {self.n_params / 1e6:.2f}M parameters, {c.n_layer} layers, {c.n_head} heads, "
                f"d_model {c.n_embd}, context {c.block_size}")

