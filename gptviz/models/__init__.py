"""Every supported model family, Qt-free: one readable file per family over shared parts.

    from gptviz.models import load_folder
    model = load_folder("path/to/hf-folder")        # config.json + model.safetensors (or .bin, sharded)
    out = model(ids)                                # ids (B, T) -> Output(logits, points, cache)
    out.points["blocks.0.attn.q"]                   # activation points, named as in DESIGN.md
    model(ids2, past=out.cache)                     # continue from the cached prefix

Families: gpt2 (also nanoGPT's layout), gpt_neox (Pythia), llama (Llama, Mistral, Qwen2, Qwen3,
SmolLM), gpt_neo, gemma, phi, gptj, opt.
"""
from .config import FAMILIES, MODEL_TYPES, ModelConfig, from_hf_config, from_nanogpt_args
from .load import assign, build, build_meta, load_folder, load_state, plan, read_tensors, skip_init
from .parts import Output, attention_pattern, trim

__all__ = ["FAMILIES", "MODEL_TYPES", "ModelConfig", "from_hf_config", "from_nanogpt_args", "assign", "build",
           "build_meta", "load_folder", "load_state", "plan", "read_tensors", "skip_init", "Output",
           "attention_pattern", "trim"]
