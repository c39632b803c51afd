"""What every loader returns: config, weights in our key layout, tokenizer, and facts to show."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.config import GPTConfig
from ..core.tokenizer import Tokenizer


@dataclass
class Checkpoint:
    config: GPTConfig
    state_dict: dict[str, torch.Tensor]
    tokenizer: Tokenizer
    name: str
    source: str
    fmt: str                                   # "gptviz", "hf", "nanogpt", "builtin"
    warnings: list[str] = field(default_factory=list)
    training: dict | None = None
