"""Rotary positions (RoPE): the rotation of q and k by position, in the half-split (NeoX, Llama) or
interleaved (GPT-J) layout, on all or part of each head, with the default, linear, dynamic, llama3 and
yarn frequency scalings as transformers computes them."""
from __future__ import annotations

import math

import torch


class Rotary:
    """Rotary position embedding on the first `dim` dims of each head (partial rotary: dim < hs).

    style "half" (NeoX, Llama, Phi, Gemma) pairs dim i with i + dim/2; "interleaved" (GPT-J) pairs
    2i with 2i+1. rope holds rope_type (default/linear/dynamic/llama3/yarn), rope_theta and the
    scaling parameters, as config.from_hf_config leaves them.
    """

    def __init__(self, dim: int, rope: dict, style: str = "half"):
        if rope.get("rope_type", "default") not in _INV_FREQ:
            raise ValueError(f"rope_type {rope.get('rope_type')!r} is not supported; "
                             f"supported: {', '.join(_INV_FREQ)}")
        self.dim, self.rope, self.style = dim, rope, style
        self._fixed = None
        if rope.get("rope_type") != "dynamic":
            with torch.device("cpu"):      # a plain tensor even when the model is built on "meta"
                self._fixed = _INV_FREQ[rope.get("rope_type", "default")](dim, rope, None)

    def inv_freq(self, seq_len: int) -> tuple[torch.Tensor, float]:
        """(dim/2,) inverse frequencies and the cos/sin scale (yarn's attention factor, else 1)."""
        if self._fixed is not None:
            return self._fixed
        with torch.device("cpu"):
            return _INV_FREQ["dynamic"](self.dim, self.rope, seq_len)

    def cache_valid(self, total: int) -> bool:
        """Whether keys rotated for a shorter prefix stay right at `total` positions: not for dynamic
        NTK beyond max_position_embeddings, whose base grows with the length. (transformers keeps the
        grown base across calls; this follows a fresh transformers model at every length.)"""
        return self.rope.get("rope_type") != "dynamic" or total <= self.rope["max_position_embeddings"]

    def cos_sin(self, offset: int, T: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (T, 2 * ceil(dim/2)) for absolute positions offset .. offset+T-1, in fp32."""
        if offset and not self.cache_valid(offset + T):
            raise ValueError(f"dynamic rope: past {offset} + new {T} positions exceed max_position_embeddings "
                             f"{self.rope['max_position_embeddings']}, which rescales every position's rotation; "
                             f"cached keys do not apply, run a fresh pass")
        inv, scale = self.inv_freq(offset + T)   # dynamic NTK follows the whole sequence's length
        pos = torch.arange(offset, offset + T, device=device, dtype=torch.float32)
        freqs = pos[:, None] * inv.to(device)[None, :]                        # (T, dim/2)
        if self.style == "half":
            emb = torch.cat((freqs, freqs), dim=-1)                           # (T, dim)
        else:
            emb = freqs.repeat_interleave(2, dim=-1)                          # (T, dim): f0 f0 f1 f1 …
        return emb.cos() * scale, emb.sin() * scale

    def apply(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, h, T, hs) rotated on its first dims; the rest passes through."""
        n = cos.shape[-1]   # 2 * ceil(dim / 2): an odd dim rotates one more, as transformers does
        rot, rest = x[..., :n], x[..., n:]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        if self.style == "half":
            a, b = rot[..., : n // 2], rot[..., n // 2:]
            turned = torch.cat((-b, a), dim=-1)
        else:
            a, b = rot[..., 0::2], rot[..., 1::2]
            turned = torch.stack((-b, a), dim=-1).flatten(-2)                 # (…, dim): -x1 x0 -x3 x2 …
        return torch.cat((rot * cos + turned * sin, rest), dim=-1)


def _base_freqs(dim: int, base: float) -> torch.Tensor:
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))   # (dim/2,)


def _default(dim, rope, seq_len):
    return _base_freqs(dim, rope["rope_theta"]), 1.0


def _linear(dim, rope, seq_len):
    return _base_freqs(dim, rope["rope_theta"]) / rope["factor"], 1.0


def _dynamic(dim, rope, seq_len):
    """NTK-aware: beyond max_position_embeddings the base grows with the sequence length."""
    factor, max_pos = rope["factor"], rope["max_position_embeddings"]
    seq_len = max(seq_len or 0, max_pos)
    base = rope["rope_theta"] * ((factor * seq_len / max_pos) - (factor - 1)) ** (dim / (dim - 2))
    return _base_freqs(dim, base), 1.0


def _llama3(dim, rope, seq_len):
    inv = _base_freqs(dim, rope["rope_theta"])
    factor, lo, hi = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / lo, inv / factor, inv)               # long waves: divided by factor
    smooth = (old / wavelen - lo) / (hi - lo)
    mid = ~(wavelen < old / hi) & ~(wavelen > old / lo)                       # in between: interpolated
    return torch.where(mid, (1 - smooth) * scaled / factor + smooth * scaled, scaled), 1.0


def _yarn(dim, rope, seq_len):
    base, old = rope["rope_theta"], rope["original_max_position_embeddings"]
    factor = rope.get("factor") or rope["max_position_embeddings"] / old

    def mscale(s, m=1.0):
        return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0

    attn = rope.get("attention_factor")
    if attn is None:
        m, m_all = rope.get("mscale"), rope.get("mscale_all_dim")
        attn = float(mscale(factor, m) / mscale(factor, m_all)) if m and m_all else mscale(factor)
    fast, slow = rope.get("beta_fast") or 32, rope.get("beta_slow") or 1

    def corr(rot):   # the dim whose wavelength makes `rot` turns over the pretraining length
        return (dim * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(base))

    low, high = corr(fast), corr(slow)
    if rope.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)   # (dim/2,)
    pos = base ** (torch.arange(0, dim, 2).float() / dim)
    extra = 1 - ramp                                      # 1: keep the frequency, 0: interpolate it
    return (1.0 / (factor * pos)) * (1 - extra) + (1.0 / pos) * extra, attn


_INV_FREQ = {"default": _default, "linear": _linear, "dynamic": _dynamic, "llama3": _llama3, "yarn": _yarn}
