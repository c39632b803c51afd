"""gptviz.load(): the one place that joins the checkpoint loaders (which build models) to the core (which runs them)."""
from __future__ import annotations

import torch

from .checkpoints.registry import load_checkpoint, load_default
from .core.session import LoadedModel


def open_model(path=None, device: str = "cpu") -> LoadedModel:
    """A path or model id through the checkpoint registry; None for the embedded default."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt = load_default() if path is None else load_checkpoint(path)
    return LoadedModel(ckpt, device=device)
