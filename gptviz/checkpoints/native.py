"""Our checkpoint format: one .safetensors file whose string metadata holds config, tokenizer and facts.

metadata: {"format": "gptviz", "config": GPTConfig JSON, "tokenizer": {"type": "gpt2"} or
{"type": "char", "chars": [...]} as JSON, "name": str, "training": JSON (optional)}.
Keys are nanoGPT/HF names in torch Linear (out, in) layout; lm_head.weight only when untied.
Optional "gptviz.vocab_rows" (V,) int: the file stores only distinct embedding rows (R, C) and this
maps each id to its row (training snapshots over a compact vocabulary); loading expands it to (V, C).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..core.config import ConfigError, GPTConfig, from_model_config
from ..core.tokenizer import Tokenizer, TokenizerError, tokenizer_from_spec
from ..core.unembedding import stored
from .errors import CheckpointError
from .loaded import Checkpoint
from .safetensors_io import read_safetensors

FORMAT = "gptviz"
ROWS = "gptviz.vocab_rows"
_ROW_KEYS = ("transformer.wte.weight", "lm_head.weight")


def save_native(path, state_dict: dict[str, torch.Tensor], cfg: GPTConfig, tokenizer: Tokenizer,
                name: str, dtype: torch.dtype = torch.float32, extra: dict | None = None) -> None:
    """Write our format. Tied lm_head is dropped (it is wte); tensors are cast to `dtype`. cfg may be a
    loaded model's family config (GPT-2 family only)."""
    try:
        cfg = from_model_config(cfg)
    except ConfigError as e:
        raise CheckpointError(str(e)) from None
    state = stored({k.removeprefix("_orig_mod."): v for k, v in state_dict.items()}, cfg.tie_word_embeddings)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state.items()}
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
    state = _load_rows(st, cfg, path) if ROWS in st.shapes else st.load(cfg, str(path))
    training = None
    if "training" in meta:
        try:
            training = json.loads(meta["training"])
        except json.JSONDecodeError:
            training = None
    return Checkpoint(cfg, state, tok, name=meta.get("name") or path.stem, source=str(path),
                      fmt="gptviz", training=training)


def _load_rows(st, cfg: GPTConfig, path: Path) -> dict[str, torch.Tensor]:
    """Distinct embedding rows (R, C) plus ROWS (V,): each id's row, checked before it indexes anything."""
    R = st.shapes.get(_ROW_KEYS[0], (0,))[0]
    if st.shapes[ROWS] != (cfg.vocab_size,) or not 1 <= R <= cfg.vocab_size:
        raise CheckpointError(f"{path}: {ROWS} has shape {list(st.shapes[ROWS])} for {R} embedding rows; "
                              f"expected [{cfg.vocab_size}]")
    state = st.load(dataclasses.replace(cfg, vocab_size=R), str(path), rename=lambda k: None if k == ROWS else k)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            if f.get_slice(ROWS).get_dtype() not in ("I32", "I64"):
                raise CheckpointError(f"{path}: {ROWS} is not an integer tensor")
            rows = f.get_tensor(ROWS).long()                            # (V,)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read {ROWS} ({e})") from None
    if len(rows) and (int(rows.min()) < 0 or int(rows.max()) >= R):
        raise CheckpointError(f"{path}: {ROWS} points outside the {R} stored embedding rows")
    for k in _ROW_KEYS:
        if k in state:
            state[k] = state[k][rows]                                   # (V, C)
    return state
