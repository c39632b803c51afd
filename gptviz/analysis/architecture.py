"""The model as its data flow: one entry per box of the architecture view, from the config alone."""
from __future__ import annotations

from dataclasses import dataclass

# core.config is plain Python (no torch): the weight list is defined once, there
from ..core.config import BLOCK_PARTS, GPTConfig


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
    # the counts come from the config's own weight list, the same that n_params() sums and loaders check
    n = GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, vocab_size=vocab_size,
                  bias=bias, n_inner=mlp_width, tie_word_embeddings=tied).params_by_part()
    return [
        Box("wte", "token embedding  wte", n["wte"], f"T × d = {T} × {d}", f"a learned {V} × {d} table"),
        Box("wpe", "position embedding  wpe", n["wpe"], f"T × d = {T} × {d}", f"learned, {block_size} positions"),
        Box("add0", "sum: the residual stream", 0, f"{T} × {d}"),
        Box("ln1", "LayerNorm 1", n["ln1"], f"{T} × {d}", f"× {n_layer}"),
        Box("attn", "causal self-attention", n["attn"], f"patterns H × T × T = {n_head} × {T} × {T};  out {T} × {d}",
            f"{n_head} heads of {d // n_head}"),
        Box("add1", "+ residual", 0, f"{T} × {d}"),
        Box("ln2", "LayerNorm 2", n["ln2"], f"{T} × {d}"),
        Box("mlp", "MLP: GELU, width 4·d", n["mlp"], f"{T} × {f} → {T} × {d}"),
        Box("add2", "+ residual", 0, f"{T} × {d}", f"repeated in {n_layer} blocks"),
        Box("lnf", "final LayerNorm", n["lnf"], f"{T} × {d}"),
        Box("unembed", "unembedding" + (" (tied to wte)" if tied else "  lm_head"), n["unembed"],
            f"logits T × V = {T} × {V}", "computed at the positions a panel needs"),
    ]


def total_params(boxes: list[Box], n_layer: int) -> int:
    """Sum over the boxes, each block part n_layer times: GPTConfig.n_params()'s rule on the same counts."""
    return sum(b.params * (n_layer if b.key in BLOCK_PARTS else 1) for b in boxes)
