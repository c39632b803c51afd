"""What every view shares: the prompt it is for, the request base class, its frozen result, and the
per-trace context compute functions read from (numpy out, no Qt).

A view request is a frozen dataclass of the parameters the view depends on besides the prompt (a layer,
a temperature...); together with the prompt's token ids, the BOS choice and the model generation it is
the memo key of its result (views.scheduler).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.tokenizer import Piece
from .buffers import PATTERNS


@dataclass(frozen=True)
class Ablated:
    """An ablation set as the GUI asks for it (core.interventions.Ablation validates it in the worker;
    importing that would pull torch into the GUI)."""
    heads: tuple[tuple[int, int], ...] = ()   # (layer, head), sorted
    mlps: tuple[int, ...] = ()                # layers, sorted
    mode: str = "zero"


@dataclass(frozen=True)
class Prompt:
    text: str
    prepend_bos: bool = False
    ablation: Ablated | None = None      # heads/MLPs knocked out in its trace (None: the clean model)


# Views with a priority below this are the first paint (tokens, next token, the selected head): the worker hands
# them to the GUI together, so the GUI thread does not paint one while the worker computes the next on the
# same two cores (measured at 512 tokens: next token 7 -> 24 ms, the head 5.5 -> 14 ms when painted apart).
FIRST_PAINT = 3


@dataclass(frozen=True)
class View:
    """Base of every view request. `priority`: lower computes first (cheap and most looked at first);
    `per_prompt`: False for views of the weights alone (computed once per model); `memo_max`: at most this
    many results of the view in the memo (the least recently used go first), None: only the memo's budget."""
    priority = 50
    per_prompt = True
    memo_max = None                       # (not annotated: a class setting, not a request field)

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, eq=False)
class Result:
    """A view's numbers for one prompt; every array is read-only (shared by the memo and the panels)."""
    prompt: Prompt | None
    view: View
    tokens: list[Piece]
    token_ids: np.ndarray                # (T,)

    @property
    def T(self) -> int:
        return len(self.token_ids)

    def __post_init__(self):
        for v in self.__dict__.values():
            if isinstance(v, np.ndarray):
                v.flags.writeable = False

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.__dict__.values() if isinstance(v, np.ndarray))


class Context:
    """One trace of one prompt and what its views share: the model pass is done once, each layer's
    attention and the overview rows at most once (views computed for the same trace reuse them)."""

    def __init__(self, model, trace, prompt: Prompt, other=None):
        self.model, self.trace, self.prompt = model, trace, prompt
        self.other = other                    # a fork of the model with its own prefix cache (prompt B)
        self.cache: dict = {}

    @property
    def tokens(self) -> list[Piece]:
        return self.trace.tokens

    @property
    def ids(self) -> np.ndarray:
        return self.trace.token_ids

    def attention(self, layer: int) -> np.ndarray:
        """(H, T, T) of `layer`, computed once per trace (the last few layers kept)."""
        key = ("attention", layer)
        if key not in self.cache:
            old = [k for k in self.cache if isinstance(k, tuple) and k[0] == "attention"]
            for k in old[:-3]:
                del self.cache[k]
            # into recycled memory (views.buffers): a fresh 12.6 MB block doubled a 512-token pattern's time
            self.cache[key] = self.trace.attention(layer, PATTERNS.take(self.trace.attention_shape(layer)))
        return self.cache[key]

    def once(self, key: str, fn):
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]

    def result(self, cls, view, **fields):
        return cls(self.prompt, view, self.tokens, self.ids, **fields)
