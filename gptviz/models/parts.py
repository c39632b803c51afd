"""Parts every family is built from: norms, activations, one attention routine that records its
activation points and computes patterns explicitly (the pattern is the point of an explorer, so no
fused kernel that never materialises it); rotary positions live in rotary.py.

Shapes: B batch, T new positions, Tp cached positions, nh query heads, nkv key/value heads
(nkv < nh is grouped-query attention: query head h reads KV head h // (nh // nkv)), hs head size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rotary import Rotary  # noqa: F401  (re-exported: families import it from here)

Cache = list  # per layer (k, v), each (B, nkv, Tp, hs), keys already rotated


@dataclass
class Output:
    logits: torch.Tensor | None          # (B, T, V), (B, 1, V) for logits="last", None for "none"
    points: dict[str, torch.Tensor]      # activation points of the new positions (names in DESIGN.md)
    cache: Cache                         # keys/values, past and new, of layers start..L-1: pass back as `past`
    offset: int = 0                      # absolute position of the first new token
    start: int = 0                       # the first block run (forward(start=..., resid=...) resumes there)


@dataclass
class Recorder:
    """Stores named activation points; a hook for a name may replace the tensor (ablation, patching)."""
    hooks: dict[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)
    keep: Callable[[str], bool] | None = None     # None: keep every point
    points: dict[str, torch.Tensor] = field(default_factory=dict)

    def __call__(self, name: str, x: torch.Tensor) -> torch.Tensor:
        hook = self.hooks.get(name)
        if hook is not None:
            x = hook(x)
        if self.keep is None or self.keep(name):
            self.points[name] = x
        return x


class CausalLM(nn.Module):
    """What every family model shares: TIED = (unembedding key, token embedding key), and RENAMES,
    other names files use for our keys (e.g. a state_dict saved from transformers 5 in memory).
    Each family defines final(x): what its unembedding reads (final norm, OPT's project_out)."""
    TIED: tuple[str, str] = ("", "")
    RENAMES: dict[str, str] = {}
    # where the attention output projection (reads the merged heads z) of layer {} and the final norm live:
    # interventions read their weights (direct logit attribution)
    OUT_PROJ: str = ""
    FINAL_NORM: str = ""

    def tie(self) -> None:
        """Make the unembedding the token embedding's own Parameter (tie_word_embeddings)."""
        head, emb = (self.get_submodule(k.rsplit(".", 1)[0]) for k in self.TIED)
        head.weight = emb.weight

    @property
    def unembedding(self) -> nn.Module:
        """The output layer (lm_head; GPT-NeoX's embed_out)."""
        return self.get_submodule(self.TIED[0].rsplit(".", 1)[0])

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.get_submodule(self.TIED[1].rsplit(".", 1)[0])

    def final(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def out_proj(self, layer: int) -> nn.Linear:
        """Layer `layer`'s attention output projection: (C, nh*hs), head h reads columns h*hs..(h+1)*hs."""
        return self.get_submodule(self.OUT_PROJ.format(layer))

    def final_norm(self) -> nn.Module | None:
        """The final norm module (None for OPT-350m, which has none)."""
        try:
            return self.get_submodule(self.FINAL_NORM)
        except AttributeError:
            return None

    def logits_of(self, resid: torch.Tensor) -> torch.Tensor:
        """(…, C) residual stream -> (…, V) logits: the family's final norm, then the unembedding."""
        return self.unembedding(self.final(resid))

    def cache_valid(self, total: int) -> bool:
        """Whether keys cached for a prefix stay right when the sequence has `total` positions."""
        rot = getattr(self, "rotary", None)
        return rot is None or rot.cache_valid(total)

    def blocks(self, layers, x, rec, past, start: int, *extra):
        """Run blocks start..L-1 on x (B, T, C), the stream entering block `start`; extra goes before
        each block's past (rotary). Returns the last block's output and the caches of the blocks run."""
        cache = []
        for l in range(start, len(layers)):
            x, kv = layers[l](x, rec, l, *extra, past[l] if past else None)
            cache.append(kv)
        return x, cache

    def pattern(self, out: "Output", layer: int) -> torch.Tensor:
        """(B, nh, T, Tp+T) attention of one layer, recomputed from the recorded queries and the
        cached keys with the family's scale and this layer's window (one layer at a time)."""
        cfg = self.cfg
        return attention_pattern(out.points[f"blocks.{layer}.attn.q"], out.cache[layer][0], cfg.scale,
                                 out.offset, cfg.windows[layer])


# ---- norms -------------------------------------------------------------------------------------

class LayerNorm(nn.Module):
    """nn.LayerNorm's math with optional bias and optional affine (OPT's elementwise_affine=False)."""

    def __init__(self, ndim: int, eps: float, bias: bool = True, affine: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim)) if affine else None
        self.bias = nn.Parameter(torch.zeros(ndim)) if affine and bias else None
        self.eps, self.ndim = eps, ndim

    def forward(self, x):
        return F.layer_norm(x, (self.ndim,), self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """x / rms(x) * w, computed in fp32. plus_one=True is Gemma's form, x / rms(x) * (1 + w), whose
    weight is stored as an offset from 1 and whose product is taken in fp32 before the cast back."""

    def __init__(self, ndim: int, eps: float, plus_one: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(ndim) if plus_one else torch.ones(ndim))
        self.eps, self.plus_one = eps, plus_one

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        if self.plus_one:
            return (h * (1.0 + self.weight.float())).to(x.dtype)
        return self.weight * h.to(x.dtype)   # Llama casts back first, then scales in the weight's dtype


# ---- activations and the gated MLP ------------------------------------------------------------

def _gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


ACTIVATION: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    # GPT-2's tanh form: transformers writes it out (NewGELUActivation); torch's fused kernel is the same
    # function to float rounding (~1e-7), needs no (T, 4C) temporaries, and is what gptviz train uses, so
    # a model saved in our format computes bit for bit as it did from its Hugging Face folder
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


class GatedMLP(nn.Module):
    """down(act(gate(x)) * up(x)): SwiGLU with silu (Llama, Mistral, Qwen), GeGLU with tanh-GELU (Gemma)."""

    def __init__(self, n_embd: int, width: int, activation: str, bias: bool = False):
        super().__init__()
        self.gate_proj = nn.Linear(n_embd, width, bias=bias)
        self.up_proj = nn.Linear(n_embd, width, bias=bias)
        self.down_proj = nn.Linear(width, n_embd, bias=bias)
        self.act = ACTIVATION[activation]

    def forward(self, x):                                   # (B, T, C) -> (B, T, C)
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


# ---- attention ----------------------------------------------------------------------------------

def allowed(Tq: int, Tk: int, offset: int = 0, window: int | None = None, device=None) -> torch.Tensor:
    """(Tq, Tk) bool: query i (absolute position offset+i) may read key j. Causal, and with a window
    only the last `window` positions including itself (GPT-Neo local layers, Mistral's sliding_window)."""
    return allowed_at(torch.arange(offset, offset + Tq, device=device), Tk, window)


def allowed_at(positions: torch.Tensor, Tk: int, window: int | None = None) -> torch.Tensor:
    """(R, Tk) bool for queries at the given absolute positions (R,), any order."""
    i = positions[:, None]
    j = torch.arange(Tk, device=positions.device)[None, :]
    ok = j <= i
    if window is not None:
        ok = ok & (i - j < window)
    return ok


def repeat_kv(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, nkv, T, hs) -> (B, nh, T, hs): each KV head serves nh/nkv consecutive query heads."""
    B, nkv, T, hs = x.shape
    if nkv == n_head:
        return x
    return x[:, :, None].expand(B, nkv, n_head // nkv, T, hs).reshape(B, n_head, T, hs)


def attention_pattern(q: torch.Tensor, k: torch.Tensor, scale: float, offset: int = 0,
                      window: int | None = None) -> torch.Tensor:
    """softmax(q k^T * scale) under the causal (and window) mask, in fp32.

    q (B, nh, Tq, hs) at absolute positions offset.., k (B, nkv, Tk, hs) at 0.. (past and new keys).
    Returns (B, nh, Tq, Tk). Used by the forward and, on demand, by views reading recorded q and k.
    """
    pos = torch.arange(offset, offset + q.shape[2], device=q.device)
    return pattern_at(q, k, scale, pos, window)


def pattern_at(q: torch.Tensor, k: torch.Tensor, scale: float, positions: torch.Tensor,
               window: int | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
    """attention_pattern for queries q (B, nh, R, hs) at the absolute positions (R,) (any rows).
    `out`: a float32 (B, nh, R, Tk) tensor the scores and then the softmax are written into (a view of the
    caller's numpy array: no 12 MB temporary per GPT-2 layer at 512 tokens, whose fresh pages cost ~3 ms)."""
    k = repeat_kv(k, q.shape[1])                                              # (B, nh, Tk, hs)
    s = torch.matmul(q.float(), k.float().transpose(-1, -2), out=out)         # (B, nh, R, Tk)
    # adding a (R, Tk) 0 / -inf bias: a broadcast masked_fill_ over (B, nh, R, Tk) took a third of the time
    bias = torch.zeros(s.shape[-2:], device=s.device).masked_fill_(~allowed_at(positions, k.shape[2], window),
                                                                   float("-inf"))
    if s.requires_grad:                                                       # autograd: nothing in place
        return (s * scale + bias).softmax(dim=-1)
    s.mul_(scale).add_(bias)
    if s.device.type == "cpu":
        # in place (checked bit-equal in the tests): the CPU kernel reads each row's max and sum before it
        # writes the row
        return torch.softmax(s, dim=-1, out=s)
    return s.softmax(dim=-1) if out is None else out.copy_(s.softmax(dim=-1))


# query rows per step of the forward's attention: the scores of one step stay under ~16 MiB, so a
# long prompt never holds (nh, T, T) at once (the pattern itself is recomputed on demand by views)
_STEP_ELEMENTS = 1 << 22


def attend(q, k, v, scale: float, offset: int = 0, window: int | None = None) -> torch.Tensor:
    """z = softmax(q k^T * scale) v, explicitly, a block of query rows at a time.
    q (B, nh, T, hs), k and v (B, nkv, Tk, hs) -> z (B, nh, T, hs)."""
    B, nh, T, _ = q.shape
    vv = repeat_kv(v, nh)                                                     # (B, nh, Tk, hs)
    step = max(1, _STEP_ELEMENTS // max(1, B * nh * k.shape[2]))
    if step >= T:
        return attention_pattern(q, k, scale, offset, window).to(v.dtype) @ vv
    z = torch.empty(B, nh, T, v.shape[-1], dtype=v.dtype, device=v.device)
    for s in range(0, T, step):
        z[:, :, s:s + step] = attention_pattern(q[:, :, s:s + step], k, scale, offset + s, window).to(v.dtype) @ vv
    return z


def self_attention(q, k, v, rec: Recorder, name: str, *, scale: float, window: int | None = None,
                   past: tuple | None = None, rotary: tuple | None = None):
    """The shared attention step of every family.

    q (B, nh, T, hs), k and v (B, nkv, T, hs) as projected (after any q/k norm); rotary = (Rotary,
    cos, sin) rotates q and k; past = cached (k, v) of earlier positions. Records `{name}.q|k|v`
    (rotated, new positions only) and `{name}.z` (B, nh, T, hs), and returns z and the full (k, v).
    """
    if rotary is not None:
        rot, cos, sin = rotary
        q, k = rot.apply(q, cos, sin), rot.apply(k, cos, sin)
    q, k, v = rec(name + ".q", q), rec(name + ".k", k), rec(name + ".v", v)
    offset = 0
    if past is not None and past[0].shape[2] > 0:
        offset = past[0].shape[2]
        k = torch.cat([past[0], k], dim=2)                                    # (B, nkv, Tp+T, hs)
        v = torch.cat([past[1], v], dim=2)
    z = attend(q, k, v, scale, offset, window)                                # (B, nh, T, hs)
    return rec(name + ".z", z), (k, v)


def merge_heads(z: torch.Tensor) -> torch.Tensor:
    B, nh, T, hs = z.shape
    return z.transpose(1, 2).reshape(B, T, nh * hs)                           # (B, T, nh*hs)


def past_length(past: Cache | None, layer: int = 0) -> int:
    """Cached positions of `past` (indexed by layer; a resumed pass reads the first block it runs)."""
    return past[layer][0].shape[2] if past else 0


def trim(cache: Cache, n: int) -> Cache:
    """The cache of the first n positions (the prefix an edited prompt still shares)."""
    return [(k[:, :, :n], v[:, :, :n]) for k, v in cache]


def unembed(x: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor], which: str):
    """Logits only where asked: "all" positions, the "last" one, or "none" (the unembedding is a
    large part of a small model's cost)."""
    if which == "none":
        return None
    if which == "last":
        x = x[:, -1:]
    elif which != "all":
        raise ValueError(f"logits={which!r}; expected 'all', 'last' or 'none'")
    return head(x)
