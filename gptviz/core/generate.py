"""Text generation with a LoadedModel: token by token through the prefix cache, cancellable."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..analysis.sampling import filter_probs, sample


def generate_ids(model, text: str, n: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 0, prepend_bos: bool = False,
                 cancelled: Callable[[], bool] = lambda: False) -> Iterator[int]:
    """Yield up to n sampled token ids continuing `text` (temperature 0 is greedy).

    Each step appends one token and re-traces; the prefix cache makes that one position of work.
    Ids the tokenizer cannot decode have probability 0 in next_token_probs and are never drawn.
    """
    rng = np.random.default_rng(seed)
    ids, _ = model.encode(text, prepend_bos)
    for _ in range(n):
        if cancelled():
            return
        probs = model.trace_ids(ids).next_token_probs(temperature)
        nxt = int(np.argmax(probs)) if temperature <= 0 else sample(filter_probs(probs, top_k, top_p), rng)
        ids.append(nxt)
        yield nxt


def generate(model, text: str, n: int, **kw) -> str:
    """The continuation of `text` as a string (decoded once, so multi-token characters come out whole)."""
    return model.tokenizer.decode(list(generate_ids(model, text, n, **kw)))
