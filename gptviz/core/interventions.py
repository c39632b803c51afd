"""Ablation of heads and MLPs as activation-point hooks (gptviz.models.parts.Recorder), Qt-free.

A head is ablated on its output z, before the output projection (the slice of o_proj / c_proj /
dense's input that head writes); an MLP on the block's MLP output. "zero" replaces it with zeros,
"mean" with its mean over the prompt's positions (computed in the ablated pass itself, so earlier
ablations count, as a transformers forward hook on that module would see it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

MODES = ("zero", "mean")


@dataclass(frozen=True)
class Ablation:
    heads: tuple[tuple[int, int], ...] = ()   # (layer, head), sorted, no repeats
    mlps: tuple[int, ...] = ()                # layers
    mode: str = "zero"

    @staticmethod
    def of(cfg, heads=(), mlps=(), mode: str = "zero") -> "Ablation":
        """Validated against the model's shape; raises ValueError naming the bad entry."""
        if mode not in MODES:
            raise ValueError(f"ablation mode {mode!r}; expected 'zero' or 'mean'")
        L, H = cfg.n_layer, cfg.n_head
        hs = set()
        for item in heads or ():
            try:
                layer, head = (int(v) for v in item)
            except (TypeError, ValueError):
                raise ValueError(f"ablate entry {item!r}: expected a (layer, head) pair") from None
            if not (0 <= layer < L and 0 <= head < H):
                raise ValueError(f"ablate head ({layer}, {head}) out of range: layers 0..{L - 1}, heads 0..{H - 1}")
            hs.add((layer, head))
        ms = set()
        for item in mlps or ():
            try:
                layer = int(item)
            except (TypeError, ValueError):
                raise ValueError(f"ablate_mlp entry {item!r}: expected a layer number") from None
            if not 0 <= layer < L:
                raise ValueError(f"ablate_mlp layer {layer} out of range 0..{L - 1}")
            ms.add(layer)
        return Ablation(tuple(sorted(hs)), tuple(sorted(ms)), mode)

    @property
    def empty(self) -> bool:
        return not self.heads and not self.mlps

    @property
    def first_layer(self) -> int:
        """The first block the ablation changes: everything below it is the clean model's."""
        return min([l for l, _ in self.heads] + list(self.mlps))

    def describe(self) -> str:
        parts = [f"L{l}.H{h}" for l, h in self.heads] + [f"MLP{l}" for l in self.mlps]
        what = "mean over the prompt's positions" if self.mode == "mean" else "zero"
        return f"{', '.join(parts)} ablated ({what})" if parts else "no ablation"


def ablation_hooks(ab: Ablation, replaced: dict | None = None) -> dict[str, Callable]:
    """Recorder hooks doing the ablation. `replaced` (optional) receives what was put in: per (l, h)
    the (hs,) value at every position, per ("mlp", l) the (C,) value (batch element 0)."""
    hooks: dict[str, Callable] = {}
    by_layer: dict[int, list[int]] = {}
    for l, h in ab.heads:
        by_layer.setdefault(l, []).append(h)

    def heads_hook(l, heads):
        def hook(z):                                   # z (B, nh, T, hs)
            z = z.clone()
            for h in heads:
                val = z[:, h].mean(dim=1, keepdim=True) if ab.mode == "mean" else torch.zeros_like(z[:, h, :1])
                z[:, h] = val                          # (B, 1, hs) broadcast over positions
                if replaced is not None:
                    replaced[(l, h)] = val[0, 0].detach().clone()
            return z
        return hook

    def mlp_hook(l):
        def hook(m):                                   # m (B, T, C)
            val = m.mean(dim=1, keepdim=True) if ab.mode == "mean" else torch.zeros_like(m[:, :1])
            if replaced is not None:
                replaced[("mlp", l)] = val[0, 0].detach().clone()
            return val.expand_as(m).clone()
        return hook

    for l, heads in by_layer.items():
        hooks[f"blocks.{l}.attn.z"] = heads_hook(l, heads)
    for l in ab.mlps:
        hooks[f"blocks.{l}.mlp_out"] = mlp_hook(l)
    return hooks


def compose(first: dict[str, Callable], then: dict[str, Callable]) -> dict[str, Callable]:
    """Hooks applying `first` and then `then` where both name the same point."""
    out = dict(then)
    for name, f in first.items():
        g = then.get(name)
        out[name] = f if g is None else (lambda x, f=f, g=g: g(f(x)))
    return out


def parse_heads(spec: str) -> list[tuple[int, int]]:
    """"L.H[,L.H…]" -> [(L, H), …]; ValueError with the bad item."""
    out = []
    for item in (s.strip() for s in spec.split(",")):
        parts = item.split(".")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"head {item!r}: expected LAYER.HEAD, e.g. 3.7 (several separated by commas)")
        out.append((int(parts[0]), int(parts[1])))
    return out


def parse_layers(spec: str) -> list[int]:
    """"L[,L…]" -> [L, …]; ValueError with the bad item."""
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if not item.isdigit():
            raise ValueError(f"layer {item!r}: expected a layer number, e.g. 3 (several separated by commas)")
        out.append(int(item))
    return out
