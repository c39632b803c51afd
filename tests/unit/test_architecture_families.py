"""The architecture view's boxes for every family, against transformers' own modules: the parameter
total equals sum(p.numel()) of the transformers model (a tied head counted once, as parameters() yields
a shared tensor once), the attention and MLP boxes equal layer 0's modules, and the drawn block names
the family's real parts (norm kind, MLP kind, parallel / post-LN, q/k norm, positions, head)."""
from __future__ import annotations

import numpy as np
import pytest

import gptviz
from gptviz.analysis.architecture import BLOCK, architecture, total_params
from tests.families import build, save
from tests.unit.test_families import CASES

# what the drawing must say per case: (norm word, MLP word, layout, extra words in the attention note)
EXPECT = {
    "gpt2": ("LayerNorm", "GELU", "sequential", ()),
    "gpt2_unscaled_relu": ("LayerNorm", "ReLU", "sequential", ("scores × 1",)),
    "gpt_neox": ("LayerNorm", "GELU", "parallel2", ("rotary", "first 6 of 12 dims")),
    "gpt_neox_sequential": ("LayerNorm", "GELU", "sequential", ("rotary", "first 3 of 12 dims", "777")),
    "llama_gqa": ("RMSNorm", "SwiGLU", "sequential", ("GQA: 2 query heads share each of 2 K/V heads", "500")),
    "llama_bias_tied": ("RMSNorm", "SwiGLU", "sequential", ("GQA",)),
    "llama_linear": ("RMSNorm", "SwiGLU", "sequential", ("linear scaling ×3",)),
    "llama3_rope": ("RMSNorm", "SwiGLU", "sequential", ("llama3 scaling ×8",)),
    "mistral_window": ("RMSNorm", "SwiGLU", "sequential", ("local window 5 in every layer",)),
    "qwen2_bias": ("RMSNorm", "SwiGLU", "sequential", ("GQA: 3 query heads",)),
    "qwen2_sliding_layer1": ("RMSNorm", "SwiGLU", "sequential", ("local window 4 in layer 1",)),
    "qwen3_qk_norm": ("RMSNorm", "SwiGLU", "sequential", ("q/k RMSNorm",)),
    "qwen3_bias": ("RMSNorm", "SwiGLU", "sequential", ("q/k RMSNorm",)),
    "gemma": ("RMSNorm (1 + w)", "GeGLU", "sequential", ("GQA: 4 query heads share each of 1",)),
    "gpt_neo": ("LayerNorm", "GELU", "sequential", ("local window 5 in layer 1", "no 1/√d")),
    "gpt_neo_local_first": ("LayerNorm", "GELU", "sequential", ("local window 3 in layer 0",)),
    "gptj": ("LayerNorm", "GELU", "parallel1", ("rotary", "first 8 of 12 dims", "interleaved")),
    "phi": ("LayerNorm", "GELU", "parallel1", ("first 6 of 12 dims",)),
    "phi_qk_norm_gqa": ("LayerNorm", "GELU", "parallel1", ("q/k LayerNorm", "GQA")),
    "opt": ("LayerNorm", "ReLU", "sequential", ()),
    "opt_post_ln_projected": ("LayerNorm", "ReLU", "post", ()),
}


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("case", [c for c in CASES if c in EXPECT])
def test_boxes_count_transformers_parameters_and_name_the_block(case, tmp_path):
    kind, overrides, (attn_path, mlp_path) = CASES[case]
    hf = build(kind, **overrides)
    m = gptviz.load(str(save(hf, tmp_path / case)))
    cfg = m.config
    boxes = architecture(cfg, 9)
    by = {b.key: b for b in boxes}
    assert len(by) == len(boxes)                                   # keys unique: clicks find their box
    assert total_params(boxes, cfg.n_layer) == _numel(hf) == cfg.n_params()
    assert by["attn"].params == _numel(hf.get_submodule(attn_path.format(l=0)))
    if kind == "opt":       # OPT's MLP is fc1 and fc2 directly in the layer
        layer = hf.get_submodule(attn_path.format(l=0).rsplit(".", 1)[0])
        assert by["mlp"].params == _numel(layer.fc1) + _numel(layer.fc2)
    else:
        assert by["mlp"].params == _numel(hf.get_submodule(mlp_path.format(l=0)))
    norm, mlp, layout, words = EXPECT[case]
    assert by["ln1"].title.startswith(norm) and (norm != "RMSNorm" or "1 + w" not in by["ln1"].title)
    assert mlp in by["mlp"].title and str(cfg.mlp_width) in by["mlp"].title
    for w in words:
        assert w in by["attn"].note, (w, by["attn"].note)
    keys = [b.key for b in boxes]
    if layout == "sequential":
        assert keys[keys.index("ln1"):keys.index("add2") + 1] == list(BLOCK)
    elif layout == "parallel2":      # NeoX: two norms side by side, then attention | MLP, then one add
        assert [(b.key, b.lane) for b in boxes if b.key in BLOCK] == [
            ("ln1", 1), ("ln2", 2), ("attn", 1), ("mlp", 2), ("add2", 0)]
    elif layout == "parallel1":      # GPT-J / Phi: one norm feeds both branches
        assert [(b.key, b.lane) for b in boxes if b.key in BLOCK] == [("ln1", 0), ("attn", 1), ("mlp", 2),
                                                                      ("add2", 0)]
        assert "feeds both" in by["ln1"].title and "ln2" not in by
    else:                            # post-LN: attention, add, norm, MLP, add, norm
        assert keys[keys.index("attn"):keys.index("ln2") + 1] == ["attn", "add1", "ln1", "mlp", "add2", "ln2"]
        assert "lnf" not in by and "project_in" in by and "project_out" in by
        assert by["project_in"].params == _numel(hf.model.decoder.project_in)
    assert ("wpe" in by) == (cfg.positions == "learned")
    if cfg.positions == "rotary":
        assert "no position vectors" in by["add0"].title
    else:
        table = hf.get_submodule({"opt": "model.decoder.embed_positions"}.get(kind, "transformer.wpe"))
        assert by["wpe"].params == _numel(table)
    head = hf.get_output_embeddings()
    tied = head.weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()
    assert cfg.tied == tied and ("tied" in by["unembed"].title) == tied
    assert by["unembed"].params == _numel(head) - (head.weight.numel() if tied else 0)
    assert f"{cfg.n_head} × 9 × 9" in by["attn"].shape
    if kind == "gemma":
        assert f"√d = {48 ** 0.5:.2f}" in by["wte"].note


# ---- the position panel's rotary view, against a numpy RoPE ----------------------------------------

def _rotate(x: np.ndarray, pos: int, inv: np.ndarray, scale: float, style: str) -> np.ndarray:
    """RoPE by hand: pair i of the rotated dims turns by pos * inv[i] (half: dims i, i + n/2; interleaved:
    2i, 2i + 1); cos and sin carry the attention scale (yarn); dims past the rotated ones pass through."""
    P = len(inv)
    out = x.astype(np.float64).copy()
    for i in range(P):
        a, b = (i, i + P) if style == "half" else (2 * i, 2 * i + 1)
        c, s = np.cos(pos * inv[i]) * scale, np.sin(pos * inv[i]) * scale
        out[a], out[b] = x[a] * c - x[b] * s, x[b] * c + x[a] * s
    return out


ROTARY = {   # case -> (rotary module path in transformers, or None for GPT-J's sinusoid table; style)
    "llama_gqa": ("model.rotary_emb", "half"), "llama_linear": ("model.rotary_emb", "half"),
    "llama3_rope": ("model.rotary_emb", "half"), "llama_yarn": ("model.rotary_emb", "half"),
    "gpt_neox": ("gpt_neox.rotary_emb", "half"), "phi": ("model.rotary_emb", "half"), "gptj": (None, "interleaved"),
}


@pytest.mark.parametrize("case", list(ROTARY))
def test_rotary_profile_matches_numpy_rope(case, tmp_path):
    from gptviz.views import Geometry
    from gptviz.views.base import Context
    kind, overrides, _ = CASES[case]
    hf = build(kind, **overrides)
    m = gptviz.load(str(save(hf, tmp_path / case)))
    cfg = m.config
    g = Geometry().compute(Context(m, None, None)).geometry
    assert "rotary" in g and "error" not in g
    r = g["rotary"]
    path, style = ROTARY[case]
    if path is None:       # GPT-J: create_sinusoidal_positions' frequencies over rotary_dim
        inv, scale = 1.0 / 10000 ** (np.arange(0, cfg.rotary_dim, 2) / cfg.rotary_dim), 1.0
    else:                  # transformers' own buffer: base, scaling and partial dim applied
        emb = hf.get_submodule(path)
        inv, scale = emb.inv_freq.double().numpy(), float(emb.attention_scaling)
    np.testing.assert_allclose(r["inv_freq"], inv, rtol=1e-6)
    np.testing.assert_allclose(r["wavelength"], 2 * np.pi / inv, rtol=1e-6)
    assert len(inv) == cfg.rotary_dim // 2 and r["head_dim"] == cfg.head_dim
    v = np.ones(cfg.head_dim) / np.sqrt(cfg.head_dim)
    want = [_rotate(v, 7 + d, inv, scale, style) @ _rotate(v, 7, inv, scale, style) for d in r["distance"]]
    np.testing.assert_allclose(r["score"], want, atol=1e-9)
    assert len(r["distance"]) == cfg.block_size and r["context"] == cfg.block_size
    if scale == 1.0:
        assert abs(r["score"][0] - 1.0) < 1e-12


def test_learned_positions_keep_the_table_view(tmp_path):
    from gptviz.views import Geometry
    from gptviz.views.base import Context
    hf = build("opt")
    m = gptviz.load(str(save(hf, tmp_path / "opt")))
    g = Geometry().compute(Context(m, None, None)).geometry
    rows = hf.model.decoder.embed_positions.weight.detach().numpy()[2:]     # OPT's row p is p + 2
    np.testing.assert_allclose(g["position_norm"], np.linalg.norm(rows, axis=1), rtol=1e-5)
    assert "rotary" not in g
