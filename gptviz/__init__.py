"""gptviz: look inside GPT-style language models. `gptviz.load()` opens a model; `.trace(text)` runs it."""
from __future__ import annotations

__version__ = "0.1.0"


def load(path: str | None = None, device: str = "cpu", dtype=None):
    """Open a model: the embedded default (no path), a HF folder/file/model id, a nanoGPT ckpt.pt or our .safetensors.
    dtype "bf16" keeps the weights in bfloat16 (default: float32)."""
    from .api import open_model
    return open_model(path, device=device, dtype=dtype)
