"""The model as its data flow: one entry per box of the architecture view, from the config alone.

Each family's real block: LayerNorm or RMSNorm, a dense GELU/ReLU MLP or a gated SwiGLU/GeGLU one,
sequential or parallel residual (one norm feeding both branches, GPT-J / Phi, or one each, NeoX),
pre-LN or post-LN (OPT-350m), q/k norms, rotary or learned positions, a tied or untied head. The
parameter counts are computed here from the config (plain Python); tests compare them with
transformers' own modules.
"""
from __future__ import annotations

from dataclasses import dataclass

BLOCK = ("ln1", "attn", "add1", "ln2", "mlp", "add2")    # keys inside the repeated block


@dataclass(frozen=True)
class Box:
    key: str            # stable id (unique per drawing)
    title: str
    params: int         # learned parameters in this box, per layer for block boxes (0: none, or shared)
    shape: str          # what it produces for the current prompt
    note: str = ""
    lane: int = 0       # 0: full width; 1 / 2: left / right of a parallel pair drawn side by side
    goes: str = ""      # the box whose output panel a click shows, when not `key` (project_in -> add0)


def _cfg(cfg):
    from ..core.config import GPTConfig, to_model_config
    return to_model_config(cfg) if isinstance(cfg, GPTConfig) else cfg


def _lin(i: int, o: int, bias: bool) -> int:
    return i * o + (o if bias else 0)


def norm_params(cfg, n: int) -> int:
    if cfg.norm != "layernorm":
        return n                                      # RMSNorm: a weight, no bias
    if not cfg.norm_affine:
        return 0
    return 2 * n if cfg.norm_bias else n


def _norm_name(cfg) -> str:
    return {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm", "rmsnorm_1+w": "RMSNorm (1 + w)"}[cfg.norm]


def part_params(cfg) -> dict[str, int]:
    """Learned parameters per part: embed, pos, project_in/out, ln1, attn, ln2, mlp (per layer), lnf, unembed."""
    C, nh, nkv, hs, f, V = cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.head_dim, cfg.mlp_width, cfg.vocab_size
    E = cfg.word_embed_proj_dim or C
    attn = (_lin(C, nh * hs, cfg.qkv_bias) + 2 * _lin(C, nkv * hs, cfg.qkv_bias) + _lin(nh * hs, C, cfg.out_bias))
    if cfg.qk_norm:
        attn += 2 * norm_params(cfg, hs)              # Qwen3 RMSNorm / Phi LayerNorm on each head's q and k
    if cfg.mlp == "dense":
        mlp = _lin(C, f, cfg.mlp_bias) + _lin(f, C, cfg.mlp_bias)
    else:                                             # gate, up, down
        mlp = 2 * _lin(C, f, cfg.mlp_bias) + _lin(f, C, cfg.mlp_bias)
    one_norm = cfg.parallel_residual and cfg.family in ("gptj", "phi")
    head_bias = cfg.family in ("gptj", "phi")         # their lm_head has a bias
    return {
        "embed": V * E,
        "pos": (cfg.block_size + cfg.pos_offset) * C if cfg.positions == "learned" else 0,
        "project_in": E * C if cfg.word_embed_proj_dim else 0,
        "project_out": E * C if cfg.word_embed_proj_dim else 0,
        "ln1": norm_params(cfg, C), "attn": attn, "ln2": 0 if one_norm else norm_params(cfg, C), "mlp": mlp,
        "lnf": norm_params(cfg, C) if cfg.final_norm else 0,
        "unembed": (0 if cfg.tied else V * E) + (V if head_bias else 0),
    }


def _rope_note(cfg) -> str:
    r = cfg.rope
    kind = r.get("rope_type", "default")
    frac = cfg.rotary_dim / cfg.head_dim
    part = "all dims" if frac == 1 else f"first {cfg.rotary_dim} of {cfg.head_dim} dims"
    extra = "" if kind == "default" else f", {kind} scaling ×{r.get('factor', 1):g}"
    style = ", interleaved pairs" if cfg.family == "gptj" else ""
    return f"rotary q, k (θ base {r.get('rope_theta', 10000):g}{extra}; {part}{style})"


def _attn_box(cfg, n: dict, T: int, lane: int) -> Box:
    L, nh, nkv = cfg.n_layer, cfg.n_head, cfg.n_kv_head
    notes = [f"{nh} heads of {cfg.head_dim}"]
    if nkv < nh:
        notes.append(f"GQA: {nh // nkv} query heads share each of {nkv} K/V heads")
    if cfg.positions == "rotary":
        notes.append(_rope_note(cfg))
    if cfg.qk_norm:
        notes.append(f"q/k {_norm_name(cfg)}")
    if cfg.attn_scale is not None:
        notes.append(f"scores × {cfg.scale:g}" + (" (no 1/√d)" if cfg.scale == 1 else ""))
    local = [l for l in range(L) if cfg.window(l) is not None]
    if local:
        ws = sorted({cfg.window(l) for l in local})
        where = ("every layer" if len(local) == L else ("layer " if len(local) == 1 else "layers ")
                 + ", ".join(map(str, local)))
        notes.append(f"local window {'/'.join(map(str, ws))} in {where}")
    return Box("attn", "causal self-attention", n["attn"],
               f"patterns H × T × T = {nh} × {T} × {T};  out {T} × {cfg.n_embd}", "; ".join(notes), lane)


def _mlp_box(cfg, n: dict, T: int, lane: int) -> Box:
    f, C = cfg.mlp_width, cfg.n_embd
    if cfg.mlp == "dense":
        act = {"relu": "ReLU", "silu": "SiLU", "swish": "SiLU"}.get(cfg.activation, "GELU")
        title = f"MLP: {act}, width {f}"
        note = f"fc {C}→{f}, {cfg.activation}, proj {f}→{C}"
    else:
        title = f"MLP: {'SwiGLU' if cfg.mlp == 'swiglu' else 'GeGLU'}, width {f}"
        note = f"down({cfg.activation}(gate·x) ⊙ up·x)"
    return Box("mlp", title, n["mlp"], f"{T} × {f} → {T} × {C}", note, lane)


def architecture(cfg, T: int) -> list[Box]:
    """The boxes of `cfg`'s data flow (a gptviz.models ModelConfig, or a GPT-2 GPTConfig) for T tokens."""
    cfg = _cfg(cfg)
    C, V, L = cfg.n_embd, cfg.vocab_size, cfg.n_layer
    E = cfg.word_embed_proj_dim or C
    n = part_params(cfg)
    norm = _norm_name(cfg)
    scale = f"; × √d = {cfg.embed_scale:.2f}" if cfg.embed_scale != 1 else ""
    out = [Box("wte", "token embedding", n["embed"], f"T × {E} = {T} × {E}", f"a learned {V} × {E} table{scale}")]
    if cfg.word_embed_proj_dim:
        out.append(Box("project_in", "project_in", n["project_in"], f"{T} × {C}", f"{E} → {C}", goes="add0"))
    if cfg.positions == "learned":
        off = f" (row p + {cfg.pos_offset})" if cfg.pos_offset else ""
        out.append(Box("wpe", "position embedding", n["pos"], f"T × d = {T} × {C}",
                       f"learned, {cfg.block_size} positions{off}"))
        out.append(Box("add0", "sum: the residual stream", 0, f"{T} × {C}"))
    else:
        out.append(Box("add0", "the residual stream (no position vectors added)", 0, f"{T} × {C}",
                       "positions enter by rotating q and k in every layer"))
    attn, mlp = _attn_box(cfg, n, T, 0), _mlp_box(cfg, n, T, 0)
    x = f"{T} × {C}"
    if cfg.post_ln:                                   # OPT-350m: norm after each residual add
        out += [attn, Box("add1", "+ residual", 0, x), Box("ln1", f"{norm} after the add", n["ln1"], x),
                mlp, Box("add2", "+ residual", 0, x, f"repeated in {L} blocks"),
                Box("ln2", f"{norm} after the add", n["ln2"], x, "post-LN")]
    elif cfg.parallel_residual:
        if n["ln2"]:                                  # NeoX: one norm per branch, both read x
            out += [Box("ln1", f"{norm} (attention)", n["ln1"], x, lane=1),
                    Box("ln2", f"{norm} (MLP)", n["ln2"], x, lane=2)]
        else:                                         # GPT-J, Phi: one norm feeds both branches
            out.append(Box("ln1", f"{norm}: feeds both branches", n["ln1"], x))
        out += [_attn_box(cfg, n, T, 1), _mlp_box(cfg, n, T, 2),
                Box("add2", "x + attention + MLP (parallel residual)", 0, x, f"repeated in {L} blocks")]
    else:
        out += [Box("ln1", f"{norm} 1", n["ln1"], x, f"× {L}"), attn, Box("add1", "+ residual", 0, x),
                Box("ln2", f"{norm} 2", n["ln2"], x), mlp, Box("add2", "+ residual", 0, x, f"repeated in {L} blocks")]
    if cfg.final_norm:
        out.append(Box("lnf", f"final {norm}", n["lnf"], x))
    if cfg.word_embed_proj_dim:
        out.append(Box("project_out", "project_out", n["project_out"], f"{T} × {E}", f"{C} → {E}", goes="lnf"))
    bias = " + bias" if cfg.family in ("gptj", "phi") else ""
    out.append(Box("unembed", ("unembedding (tied to the token embedding)" if cfg.tied else "unembedding  lm_head")
                   + bias, n["unembed"], f"logits T × V = {T} × {V}", "computed at the positions a panel needs"))
    return out


def total_params(boxes: list[Box], n_layer: int) -> int:
    """Sum over the boxes, each block part n_layer times (a tied unembedding counted once: its box holds 0)."""
    return sum(b.params * (n_layer if b.key in BLOCK else 1) for b in boxes)
