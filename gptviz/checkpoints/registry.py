"""Pick the checkpoint format by sniffing the path, and open the embedded default model."""
from __future__ import annotations

import zipfile
from pathlib import Path

from ..core.config import GPTConfig
from ..core.resources import resource
from ..core.tokenizer import gpt2_tokenizer
from ..core.unembedding import stored
from .errors import CheckpointError
from .hf import find_weights, load_hf, looks_like_model_id, resolve_model_id
from .loaded import Checkpoint
from .nanogpt import is_nanogpt, load_nanogpt
from .native import is_native, load_native
from .safetensors_io import read_safetensors
from .torch_io import load_torch_file
from .validate import non_finite_warnings

DEFAULT_MODEL = resource("models", "default.safetensors")
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def load_checkpoint(path, dtype=None) -> Checkpoint:
    """A path (file or folder) or a Hugging Face model id -> Checkpoint, or CheckpointError saying why not.
    dtype: what Hugging Face weights are held in (None: float32, also for bf16/fp16 files)."""
    s = str(path)
    p = Path(s).expanduser()
    if not p.exists():
        if looks_like_model_id(s):
            return _finish(load_hf(resolve_model_id(s), dtype))
        raise CheckpointError(f"{s}: no such file or folder")
    return _finish(_dispatch(p, dtype))


def _dispatch(p: Path, dtype=None) -> Checkpoint:
    if p.is_dir():
        if (p / "config.json").is_file() and find_weights(p):
            return load_hf(p, dtype)
        if (p / "ckpt.pt").is_file():
            return load_nanogpt(p / "ckpt.pt")
        ours = [f for f in sorted(p.glob("*.safetensors")) if is_native(_header_meta(f))]
        if ours:
            return load_native(ours[0])
        raise CheckpointError(f"{p}: no model weights found in this folder (looked for config.json with "
                              "model.safetensors or pytorch_model.bin or a sharded index, ckpt.pt, or a gptviz "
                              ".safetensors)")
    if p.name == "config.json":
        return _dispatch(p.parent, dtype)
    if p.name.endswith(".index.json"):
        return load_hf(p, dtype)
    if p.suffix == ".safetensors":
        return load_native(p) if is_native(read_safetensors(p).metadata) else load_hf(p, dtype)
    if p.suffix in TORCH_SUFFIXES or zipfile.is_zipfile(p):
        raw = load_torch_file(p)
        if is_nanogpt(raw):
            return load_nanogpt(p, raw)
        if (p.parent / "config.json").is_file():
            return load_hf(p, dtype)
        raise CheckpointError(f"{p}: a PyTorch file, but neither a nanoGPT checkpoint (model_args + model) "
                              "nor a Hugging Face state dict with config.json beside it")
    raise CheckpointError(f"{p}: unrecognised file type (expected .safetensors, .bin, .pt, or a folder)")


def _header_meta(f: Path) -> dict:
    try:
        return read_safetensors(f).metadata
    except CheckpointError:
        return {}


def _finish(ckpt: Checkpoint) -> Checkpoint:
    ckpt.warnings.extend(non_finite_warnings(ckpt.state_dict))
    return ckpt


def load_default() -> Checkpoint:
    """The model shipped in resources/; if it is absent, a small randomly initialised, clearly untrained one."""
    if DEFAULT_MODEL.is_file():
        return _finish(load_native(DEFAULT_MODEL))
    from ..core.model import GPT
    cfg = GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=256)
    model = GPT(cfg)
    model.init_weights(seed=0)
    state = {k: v.detach() for k, v in stored(model.state_dict(), cfg.tie_word_embeddings).items()}
    return Checkpoint(cfg, state, gpt2_tokenizer(), name="untrained (random weights)", source="built-in", fmt="builtin",
                      warnings=[f"{DEFAULT_MODEL} is missing: this is an untrained model with random weights"])
