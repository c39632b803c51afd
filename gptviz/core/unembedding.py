"""The one rule for the unembedding: GPT-2's lm_head is the token embedding wte (tied) unless a checkpoint
brings its own. Checkpoints and our files hold a tied head once, as wte; the model's state dict has both."""
from __future__ import annotations

from typing import Mapping, TypeVar

WTE = "transformer.wte.weight"
LM_HEAD = "lm_head.weight"
T = TypeVar("T")


def head_is_tied(head, wte) -> bool:
    """For files without a config flag (nanoGPT): tied when there is no lm_head or it equals wte."""
    if head is None:
        return True
    import torch            # only here: the rest of this module is plain Python for the config's shapes
    return (isinstance(head, torch.Tensor) and isinstance(wte, torch.Tensor)
            and head.shape == wte.shape and torch.equal(head, wte))


def keeps(key: str, tied: bool) -> bool:
    """Whether a file's weight `key` is a weight of its own (a tied lm_head is wte again)."""
    return not (tied and key == LM_HEAD)


def stored(state: Mapping[str, T], tied: bool) -> dict[str, T]:
    """What a checkpoint holds: the state without a tied lm_head."""
    return {k: v for k, v in state.items() if keeps(k, tied)}


def with_head(state: Mapping[str, T], tied: bool) -> dict[str, T]:
    """What the model's load_state_dict takes: a tied lm_head is wte."""
    out = dict(state)
    if tied:
        out[LM_HEAD] = out[WTE]
    return out
