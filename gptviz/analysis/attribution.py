"""Direct logit attribution through a frozen final norm (numpy only).

The final residual at one position is a sum of parts (embeddings, every head through its slice of the
output projection, every attention output bias, every MLP). The final norm is not linear, but with its
scale frozen at the value it actually took (LayerNorm's std, RMSNorm's rms) it is: each part is centred
(LayerNorm only), divided by that scale and multiplied by the norm's weight, and what the norm adds on
its own (its bias) goes to a separate bias term with the unembedding's bias. So the parts sum to the
logit exactly (to float rounding). Parts then read the unembedding direction of one token, or of the
difference between two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Attribution:
    token: int                 # the logit explained (minus `minus`'s, when given)
    minus: int | None
    position: int              # absolute position (0..T-1)
    logit: float               # the model's own value: logits[position, token] (- logits[position, minus])
    embed: float               # token (+ learned position) embedding
    heads: np.ndarray          # (L, H) each head through its slice of the output projection
    attn_bias: np.ndarray      # (L,) each layer's output projection bias
    mlps: np.ndarray           # (L,) each block's MLP output
    bias: float                # the final norm's bias and the unembedding's bias
    norm_scale: float          # the frozen scale: LayerNorm's std or RMSNorm's rms (1 without a norm)

    @property
    def total(self) -> float:
        """The sum of all parts: equals `logit` to float rounding."""
        return float(self.embed + self.heads.sum() + self.attn_bias.sum() + self.mlps.sum() + self.bias)

    def to_json(self) -> dict:
        return {"token": self.token, "minus": self.minus, "position": self.position, "logit": self.logit,
                "total": self.total, "embed": self.embed, "heads": self.heads.tolist(),
                "attn_bias": self.attn_bias.tolist(), "mlps": self.mlps.tolist(), "bias": self.bias,
                "norm_scale": self.norm_scale}


def frozen_norm_read(x: np.ndarray, parts: np.ndarray, kind: str, weight: np.ndarray | None,
                     bias: np.ndarray | None, eps: float, direction: np.ndarray) -> tuple[np.ndarray, float, float]:
    """What each part contributes to `direction` · norm(x), with the norm's scale frozen at x's.

    x (C,) the actual residual (sum of parts); parts (K, C); kind "layernorm", "rmsnorm" (weight already
    1 + w for Gemma) or "none"; direction (C,) what the norm's output is read by.
    Returns (K,) contributions, the bias's contribution and the frozen scale.
    """
    x, parts, d = (np.asarray(a, np.float64) for a in (x, parts, direction))
    w = np.ones_like(x) if weight is None else np.asarray(weight, np.float64)
    if kind == "layernorm":
        scale = float(np.sqrt(x.var() + eps))                  # population variance, as LayerNorm
        normed = (parts - parts.mean(-1, keepdims=True)) / scale * w    # (K, C)
    elif kind == "rmsnorm":
        scale = float(np.sqrt((x * x).mean() + eps))
        normed = parts / scale * w
    elif kind == "none":
        scale, normed = 1.0, parts
    else:
        raise ValueError(f"norm kind {kind!r}")
    b = 0.0 if bias is None else float(np.asarray(bias, np.float64) @ d)
    return normed @ d, b, scale
