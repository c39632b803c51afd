"""A text-generation job for the worker (sampling runs there; the GUI shows the text as it grows)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenerateJob:
    """Sample `n` tokens after `text` in the worker; `cancel` (a threading.Event) stops it between tokens."""
    id: int
    text: str
    n: int
    temperature: float
    top_k: int
    top_p: float
    seed: int
    prepend_bos: bool
    cancel: object
