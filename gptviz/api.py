"""gptviz.load(): the one place that joins the checkpoint loaders (which build models) to the core (which runs them)."""
from __future__ import annotations

import torch

from .checkpoints.registry import load_checkpoint, load_default
from .core.memory import trim_freed_memory
from .core.session import LoadedModel


def open_model(path=None, device: str = "cpu", dtype=None) -> LoadedModel:
    """A path or model id through the checkpoint registry; None for the embedded default.
    dtype: None or "fp32" computes in float32 (bf16/fp16 files too: exact parity); "bf16" keeps the
    weights and activations in bfloat16 (half the memory)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt = load_default() if path is None else load_checkpoint(path, dtype=dtype)
    model = LoadedModel(ckpt, device=device, dtype=dtype)
    del ckpt
    trim_freed_memory()
    return model
