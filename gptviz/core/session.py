"""LoadedModel: a model of any family (gptviz.models), its tokenizer and a prefix cache, so each
keystroke computes only what changed.

The cache keeps what the views need and nothing per head and position pair: the residual stream
before every block and after the last, each layer's queries and keys/values (keys already rotated
for rotary families), and per position the norms of the token and position embeddings and of every
block's attention and MLP outputs. Patterns are recomputed from q and k by the Trace on demand.
"""
from __future__ import annotations

import numpy as np
import torch

from ..models import ModelConfig, build_meta, load_state
from .config import GPTConfig, to_model_config
from .interventions import Ablation, ablation_hooks, compose
from .memory import return_freed_memory_promptly
from .tokenizer import CharTokenizer, Tokenizer
from .trace import Trace


def parse_dtype(dtype) -> torch.dtype:
    from ..checkpoints.hf import parse_dtype as parse     # one list of the dtypes we accept
    return parse(dtype)


class _Cache:
    """The last traced token sequence and what its forward pass left for the views."""

    def __init__(self, ids, resid, q, kv, stats, reusable: bool, ablation: Ablation | None = None,
                 replaced: dict | None = None):
        self.ids = ids            # (T,)
        self.resid = resid        # L+1 tensors (T, C): resid_pre of every block, then the last resid_post
        self.q = q                # per layer (nh, T, hs)
        self.kv = kv              # per layer (k, v), each (nkv, T, hs)
        self.stats = stats        # (T, 2 + 2L) float32: embed, pos_embed, attn_out per layer, mlp_out per layer norms
        self.reusable = reusable  # False when a prefix's keys would differ in a longer pass (dynamic NTK rope)
        self.ablation = ablation  # what was ablated in this pass (None: the clean model)
        self.replaced = replaced or {}   # what the ablation put in (interventions.ablation_hooks)

    def sliced(self, T: int) -> "_Cache":
        """The cache of the first T positions (a deletion at the end computes nothing)."""
        return _Cache(self.ids[:T], [r[:T] for r in self.resid], [q[:, :T] for q in self.q],
                      [(k[:, :T], v[:, :T]) for k, v in self.kv], self.stats[:T], self.reusable,
                      self.ablation, self.replaced)


class LoadedModel:
    def __init__(self, ckpt, device: str = "cpu", dtype=None):
        """`ckpt`: what a loader returns (gptviz.checkpoints.loaded.Checkpoint): config, weights, tokenizer,
        facts. dtype: None keeps the loader's (float32 unless asked otherwise); "bf16" halves memory."""
        return_freed_memory_promptly()
        cfg = ckpt.config
        if isinstance(cfg, GPTConfig):        # ours, nanoGPT, the built-in model: the GPT-2 family file
            cfg = to_model_config(cfg, "nanogpt" if ckpt.fmt == "nanogpt" else "gpt2")
        self.config: ModelConfig = cfg
        self.tokenizer: Tokenizer = ckpt.tokenizer
        self.name = ckpt.name
        self.source = ckpt.source
        self.format = ckpt.fmt
        self.training = ckpt.training
        self.warnings = list(ckpt.warnings)
        self.device = torch.device(device)
        floats = [t.dtype for t in ckpt.state_dict.values() if t.is_floating_point()]
        self.dtype = parse_dtype(dtype) if dtype is not None else (floats[0] if floats else torch.float32)
        # built on "meta" and given the loaded tensors themselves: no random init, no second copy
        model = load_state(build_meta(cfg), ckpt.state_dict, self.dtype, hf_layout=False)
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model.to(self.device)
        V, n = cfg.vocab_size, self.tokenizer.n_vocab
        if n > V:
            self.warnings.append(f"tokenizer has {n} ids but the model only {V}; higher ids are dropped from prompts")
        elif V > n:
            self.warnings.append(f"the model's vocabulary has {V} ids, the tokenizer {n}: "
                                 f"the {V - n} ids without a token are never shown or sampled")
        self._cache: _Cache | None = None
        self._ablated: _Cache | None = None     # the last ablated pass (its ablation is part of the key)
        self.last_reused = 0    # tokens taken from the cache by the last trace (for status and benchmarks)
        self.last_start_layer = 0   # the first block the last trace ran (an ablation's first layer)

    @property
    def n_params(self) -> int:
        return self.config.n_params()

    def embedding_tables(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(V, C) token embedding and (block_size, C) learned positions (None for rotary families), as
        float32 numpy, for the geometry view."""
        wte = self.model.token_embedding.weight.detach().float().cpu().numpy()
        pos = getattr(self.model, "position_table", None)
        wpe = None if pos is None else pos().detach().float().cpu().numpy()
        return wte, wpe

    def encode(self, text: str, prepend_bos: bool = False) -> tuple[list[int], list[str]]:
        warnings = []
        ids = self.tokenizer.encode(text)
        if isinstance(self.tokenizer, CharTokenizer):
            unknown = self.tokenizer.unknown_chars(text)
            if unknown:
                warnings.append(f"characters not in the vocabulary were skipped: {''.join(unknown)!r}")
        if prepend_bos:
            bos = getattr(self.tokenizer, "bos_id", None)
            bos = self.tokenizer.eot_id if bos is None else bos
            if bos is None:
                warnings.append("this tokenizer has no BOS or <|endoftext|> token to prepend")
            else:
                ids = [bos] + ids
        if any(i >= self.config.vocab_size for i in ids):
            ids = [i for i in ids if i < self.config.vocab_size]
            warnings.append("ids beyond the model's vocabulary were dropped")
        return ids, warnings

    def trace(self, text: str, prepend_bos: bool = False, ablate=(), ablate_mlp=(), mode: str = "zero") -> Trace:
        """One forward pass over `text`, reusing the cached keys/values of the unchanged token prefix.
        ablate [(layer, head), …] / ablate_mlp [layer, …]: the trace of the model with those heads' outputs
        (before the output projection) and those MLP outputs zeroed, or (mode="mean") replaced by their
        mean over the prompt's positions."""
        ids, warnings = self.encode(text, prepend_bos)
        return self.trace_ids(ids, warnings, ablate=ablate, ablate_mlp=ablate_mlp, mode=mode)

    @torch.no_grad()
    def trace_ids(self, ids, warnings: list[str] | None = None, ablate=(), ablate_mlp=(), mode: str = "zero") -> Trace:
        ab = Ablation.of(self.config, ablate, ablate_mlp, mode)     # a bad spec fails before any work
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n_prompt = len(ids)
        truncated = n_prompt > self.config.block_size
        if truncated:
            ids = ids[-self.config.block_size:]   # positions restart at 0 for the window
        T = len(ids)
        valid = self.model.cache_valid(T)
        c = self._cache
        reuse = self._common_prefix(c, ids) if c is not None and c.reusable and valid else 0
        if T == 0:
            c = self._empty(ids)
        elif reuse == T:                        # same tokens, or a deletion at the end: slice, compute nothing
            c = c.sliced(T)
        else:
            c = self._run(ids, reuse, c, valid)
        self._cache = c
        self.last_reused, self.last_start_layer = reuse, 0
        if not ab.empty and T:
            # the clean cache below the first ablated layer is the ablated model's too; above it the
            # ablated cache of the same ablation set gives the unchanged prefix (zero mode: a mean over
            # the positions changes with every token, so mean mode recomputes every position)
            a = self._ablated
            if a is None or a.ablation != ab or not a.reusable or not valid or ab.mode == "mean":
                a = None
            reuse = self._common_prefix(a, ids) if a is not None else 0
            a = a.sliced(T) if reuse == T else self._run(ids, reuse, a, valid, ab, c)
            self._ablated = c = a
            self.last_reused, self.last_start_layer = reuse, ab.first_layer
        return Trace(self.model, self.tokenizer, ids, c.resid, c.q, c.kv, c.stats, truncated, n_prompt,
                     list(self.warnings) + list(warnings or []), ablation=None if ab.empty else ab,
                     replaced=c.replaced)

    def _run(self, ids: np.ndarray, reuse: int, c: _Cache | None, valid: bool,
             ab: Ablation | None = None, base: _Cache | None = None) -> _Cache:
        """The forward pass over positions reuse.. given the cache c of the positions before them.
        With an ablation, only blocks from its first layer on run, on the stream `base` (the clean
        cache of the same ids) has there; base gives every layer below."""
        cfg, L = self.config, self.config.n_layer
        start = ab.first_layer if ab is not None else 0
        Tn = len(ids) - reuse
        stats = torch.zeros(Tn, 2 + 2 * L)
        hooks = {}

        def norm_into(col):
            def hook(x):                        # x (B|1, Tn, C): store its per-position norm, pass it on
                stats[:, col] = x[0].float().norm(dim=-1).cpu()
                return x
            return hook
        # contiguous copies of q/k/v: views would keep each layer's whole fused qkv projection alive
        own = torch.Tensor.contiguous
        hooks["embed"], hooks["pos_embed"] = norm_into(0), norm_into(1)
        for l in range(L):
            p = f"blocks.{l}"
            hooks[p + ".attn_out"], hooks[p + ".mlp_out"] = norm_into(2 + l), norm_into(2 + L + l)
            hooks[p + ".attn.q"] = hooks[p + ".attn.k"] = hooks[p + ".attn.v"] = own
        replaced = dict(c.replaced) if reuse and c is not None else {}
        if ab is not None:
            hooks = compose(ablation_hooks(ab, replaced), hooks)   # the norms see the ablated outputs
        last = f"blocks.{L - 1}.resid_post"
        keep = (lambda n: n == last or n.endswith((".resid_pre", ".attn.q")))
        past = [(k[None, :, :reuse], v[None, :, :reuse]) for k, v in c.kv] if reuse else None
        idx = torch.tensor(ids[reuse:], device=self.device)[None]                 # (1, Tn)
        x = base.resid[start][reuse:][None] if start else None                         # (1, Tn, C)
        out = self.model(idx, past=past, hooks=hooks, logits="none", keep=keep, start=start, resid=x)
        pts = out.points
        resid = [pts[f"blocks.{l}.resid_pre"][0] for l in range(start, L)] + [pts[last][0]]  # (Tn, C) each
        q = [pts[f"blocks.{l}.attn.q"][0] for l in range(start, L)]                    # (nh, Tn, hs)
        kv = [(k[0], v[0]) for k, v in out.cache]                                      # (nkv, T, hs)
        del out, pts
        if reuse:
            resid = [torch.cat([a[:reuse], b]) for a, b in zip(c.resid[start:], resid)]
            q = [torch.cat([a[:, :reuse], b], dim=1) for a, b in zip(c.q[start:], q)]
            stats = torch.cat([c.stats[:reuse], stats])
        if start:
            resid, q, kv = base.resid[:start] + resid, base.q[:start] + q, base.kv[:start] + kv
            below = [0, 1] + list(range(2, 2 + start)) + list(range(2 + L, 2 + L + start))
            stats[:, below] = base.stats[:, below]
        return _Cache(ids, resid, q, kv, stats, valid, ab, replaced)

    def _empty(self, ids) -> _Cache:
        cfg, L = self.config, self.config.n_layer
        z = dict(device=self.device, dtype=self.dtype)
        kv = torch.zeros(cfg.n_kv_head, 0, cfg.head_dim, **z)
        return _Cache(ids, [torch.zeros(0, cfg.n_embd, **z)] * (L + 1),
                      [torch.zeros(cfg.n_head, 0, cfg.head_dim, **z)] * L, [(kv, kv)] * L,
                      torch.zeros(0, 2 + 2 * L), True)

    @staticmethod
    def _common_prefix(c: _Cache | None, ids: np.ndarray) -> int:
        if c is None or not len(c.ids) or not len(ids):
            return 0
        n = min(len(c.ids), len(ids))
        diff = np.flatnonzero(c.ids[:n] != ids[:n])
        return int(diff[0]) if len(diff) else n

    def fork(self) -> "LoadedModel":
        """The same model and tokenizer with a prefix cache of its own (e.g. a second prompt to compare)."""
        other = object.__new__(LoadedModel)
        other.__dict__.update(self.__dict__)
        other._cache = other._ablated = None
        other.last_reused = other.last_start_layer = 0
        return other

    def clear_cache(self) -> None:
        self._cache = self._ablated = None

    def describe(self) -> str:
        c = self.config
        kv = f" ({c.n_kv_head} KV heads)" if c.n_kv_head != c.n_head else ""
        return (f"{self.name}: {c.model_type}, {self.n_params / 1e6:.2f}M parameters, {c.n_layer} layers, "
                f"{c.n_head} heads{kv}, d_model {c.n_embd}, context {c.block_size}")
