"""Tiny random checkpoints of every family, built and saved by transformers' own classes.

Each builder returns a transformers model (eval, fp32, eager attention) whose weights are random and
whose norms are perturbed away from (1, 0), so a forgotten norm weight or bias changes the numbers.
`save(model, folder)` writes model.safetensors + config.json with save_pretrained; `old_style(folder)`
rewrites config.json the way transformers < 5 wrote it (rope_theta / rope_scaling / rotary_pct …).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

VOCAB = 101


def _perturb(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights everywhere; norm weights near 1 (near 0 for Gemma's 1+w form), biases non-zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            low = name.lower()
            if ("norm" in low or "ln" in low) and p.ndim == 1:
                is_weight = name.endswith("weight")
                base = 1.0 if is_weight and not getattr(model.config, "model_type", "") == "gemma" else 0.0
                p.copy_(base + 0.2 * noise)
            elif p.ndim == 1:
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise * (0.6 / p.shape[-1] ** 0.5) if p.ndim == 2 and "emb" not in low and "wte" not in low
                        and "wpe" not in low else 0.5 * noise)
    return model.eval()


def build(kind: str, seed: int = 0, **overrides):
    """A transformers model of family `kind` with random weights (see CONFIGS for the shapes)."""
    import transformers
    cls_name, cfg_name, kwargs = CONFIGS[kind]
    kwargs = {**kwargs, **overrides}
    torch.manual_seed(seed)
    cfg = getattr(transformers, cfg_name)(**kwargs)
    cfg._attn_implementation = "eager"
    model = getattr(transformers, cls_name)(cfg)
    return _perturb(model, seed)


def save(model, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def hf_forward(model, ids: torch.Tensor):
    """transformers' eager forward: logits (T, V) and per-layer attention [(H, T, T)] for 1-D ids."""
    with torch.no_grad():
        out = model(ids[None], output_attentions=True, use_cache=False)
    return out.logits[0], [a[0] for a in out.attentions]


def old_style(folder: Path) -> dict:
    """Rewrite config.json as transformers 4.x wrote it; returns the new dict."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    rp = cfg.pop("rope_parameters", None)
    mt = cfg["model_type"]
    if rp:
        rp = dict(rp)
        theta = rp.pop("rope_theta", None)
        partial = rp.pop("partial_rotary_factor", None)
        rtype = rp.pop("rope_type", "default")
        if mt == "gpt_neox":
            cfg["rotary_emb_base"] = theta
            cfg["rotary_pct"] = partial if partial is not None else 1.0
        else:
            cfg["rope_theta"] = theta
            if partial is not None:
                cfg["partial_rotary_factor"] = partial
        # 4.x wrote the kind under "type" and no dict at all for the default kind
        cfg["rope_scaling"] = None if rtype == "default" else {"type": rtype, **rp}
    if mt == "gpt_neo":
        cfg.pop("attention_types", None)    # 4.x files carry the expanded attention_layers list too
    path.write_text(json.dumps(cfg))
    return cfg


_small = dict(vocab_size=VOCAB)
CONFIGS: dict[str, tuple[str, str, dict]] = {
    "gpt2": ("GPT2LMHeadModel", "GPT2Config", dict(
        _small, n_embd=48, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0)),
    "gpt_neox": ("GPTNeoXForCausalLM", "GPTNeoXConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=64, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                     "partial_rotary_factor": 0.5},
        use_parallel_residual=True, tie_word_embeddings=False)),
    "llama": ("LlamaForCausalLM", "LlamaConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=80, max_position_embeddings=64, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0})),
    "mistral": ("MistralForCausalLM", "MistralConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=80, max_position_embeddings=64, sliding_window=5,
        rope_parameters={"rope_type": "default", "rope_theta": 1000.0})),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
        intermediate_size=80, max_position_embeddings=64, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    "qwen3": ("Qwen3ForCausalLM", "Qwen3Config", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, intermediate_size=80, max_position_embeddings=64, tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    "gpt_neo": ("GPTNeoForCausalLM", "GPTNeoConfig", dict(
        _small, hidden_size=48, num_layers=2, num_heads=4, max_position_embeddings=64,
        attention_types=[[["global", "local"], 1]], window_size=5, intermediate_size=96, bos_token_id=0,
        eos_token_id=0)),
    "gemma": ("GemmaForCausalLM", "GemmaConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
        head_dim=16, intermediate_size=80, max_position_embeddings=64,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})),
    "phi": ("PhiForCausalLM", "PhiConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        max_position_embeddings=64, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                     "partial_rotary_factor": 0.5})),
    "gptj": ("GPTJForCausalLM", "GPTJConfig", dict(
        _small, n_embd=48, n_layer=2, n_head=4, rotary_dim=8, n_positions=64, n_inner=96, bos_token_id=0,
        eos_token_id=0)),
    "opt": ("OPTForCausalLM", "OPTConfig", dict(
        _small, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, ffn_dim=96,
        max_position_embeddings=64, pad_token_id=1)),
}
