"""Our checkpoint format: one .safetensors file whose string metadata holds config, tokenizer and facts.

metadata: {"format": "gptviz", "config": GPTConfig JSON, "tokenizer": {"type": "gpt2"} or
{"type": "char", "chars": [...]} as JSON, "name": str, "training": JSON (optional)}.
Keys are nanoGPT/HF names in torch Linear (out, in) layout; lm_head.weight only when untied.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..core.config import ConfigError, GPTConfig
from ..core.tokenizer import Tokenizer, TokenizerError, tokenizer_from_spec
from ..core.unembedding import stored
from .errors import CheckpointError
from .loaded import Checkpoint
from .safetensors_io import read_safetensors

FORMAT = "gptviz"


def save_native(path, state_dict: dict[str, torch.Tensor], cfg: GPTConfig, tokenizer: Tokenizer,
                name: str, dtype: torch.dtype = torch.float32, extra: dict | None = None) -> None:
    """Write our format. Tied lm_head is dropped (it is wte); tensors are cast to `dtype`."""
    state = stored({k.removeprefix("_orig_mod."): v for k, v in state_dict.items()}, cfg.tie_word_embeddings)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state.items()}
    meta = {"format": FORMAT, "config": cfg.to_json(), "tokenizer": json.dumps(tokenizer.spec()), "name": name}
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    save_file(tensors, str(path), metadata=meta)


def is_native(metadata: dict | None) -> bool:
    return bool(metadata) and metadata.get("format") == FORMAT


def load_native(path: Path) -> Checkpoint:
    path = Path(path)
    st = read_safetensors(path)
    meta = st.metadata
    if not is_native(meta):
        raise CheckpointError(f"{path}: not a gptviz .safetensors file (no gptviz metadata)")
    try:
        cfg = GPTConfig.from_json(meta.get("config", ""))
        tok = tokenizer_from_spec(json.loads(meta.get("tokenizer", "null")))
    except (ConfigError, TokenizerError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: bad metadata: {e}") from None
    state = st.load(cfg, str(path))
    training = None
    if "training" in meta:
        try:
            training = json.loads(meta["training"])
        except json.JSONDecodeError:
            training = None
    return Checkpoint(cfg, state, tok, name=meta.get("name") or path.stem, source=str(path),
                      fmt="gptviz", training=training)
