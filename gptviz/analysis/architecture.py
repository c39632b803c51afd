"""The model as its data flow: one entry per box of the architecture view, from the config alone."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    key: str            # stable id; the view maps it to the panel that shows its output
    title: str
    params: int         # learned parameters in this box (0: none, or shared)
    shape: str          # what it produces for the current prompt
    note: str = ""


def architecture(n_layer: int, n_head: int, n_embd: int, block_size: int, vocab_size: int, mlp_width: int,
                 bias: bool, tied: bool, T: int) -> list[Box]:
    d, f, V = n_embd, mlp_width, vocab_size
    b = 1 if bias else 0
    ln = 2 * d if bias else d
    attn = 3 * d * d + b * 3 * d + d * d + b * d
    mlp = d * f + b * f + f * d + b * d
    return [
        Box("wte", "token embedding  wte", V * d, f"T × d = {T} × {d}", f"a learned {V} × {d} table"),
        Box("wpe", "position embedding  wpe", block_size * d, f"T × d = {T} × {d}", f"learned, {block_size} positions"),
        Box("add0", "sum: the residual stream", 0, f"{T} × {d}"),
        Box("ln1", "LayerNorm 1", ln, f"{T} × {d}", f"× {n_layer}"),
        Box("attn", "causal self-attention", attn, f"patterns H × T × T = {n_head} × {T} × {T};  out {T} × {d}",
            f"{n_head} heads of {d // n_head}"),
        Box("add1", "+ residual", 0, f"{T} × {d}"),
        Box("ln2", "LayerNorm 2", ln, f"{T} × {d}"),
        Box("mlp", "MLP: GELU, width 4·d", mlp, f"{T} × {f} → {T} × {d}"),
        Box("add2", "+ residual", 0, f"{T} × {d}", f"repeated in {n_layer} blocks"),
        Box("lnf", "final LayerNorm", ln, f"{T} × {d}"),
        Box("unembed", "unembedding" + (" (tied to wte)" if tied else "  lm_head"), 0 if tied else V * d,
            f"logits T × V = {T} × {V}", "computed at the positions a panel needs"),
    ]


def total_params(boxes: list[Box], n_layer: int) -> int:
    per_block = {"ln1", "attn", "ln2", "mlp"}
    return sum(b.params * (n_layer if b.key in per_block else 1) for b in boxes)
