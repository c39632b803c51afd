"""What every loader returns: config, weights in our key layout, tokenizer, and facts to show.

config is a GPTConfig for GPT-2-architecture files in nanoGPT's layout (ours, nanoGPT, the built-in
model) or a gptviz.models ModelConfig (Hugging Face folders of every family); state_dict holds the
family model's own keys in nn.Linear (out, in) layout, a tied unembedding left out."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.config import GPTConfig
from ..core.tokenizer import Tokenizer
from ..models.config import ModelConfig


@dataclass
class Checkpoint:
    config: GPTConfig | ModelConfig
    state_dict: dict[str, torch.Tensor]
    tokenizer: Tokenizer
    name: str
    source: str
    fmt: str                                   # "gptviz", "hf", "nanogpt", "builtin"
    warnings: list[str] = field(default_factory=list)
    training: dict | None = None
