"""`--prev-token-aux`: an auxiliary training objective, "the output of block 0 names the previous token".

Why: induction heads build on a previous-token head (their keys need token t-1), but next-token loss
alone grows one slowly: no head of our earlier runs put more than 0.19 on the previous token after
11.5M tokens, and at init every head is near-uniform, so attention to t-1 gets a gradient only as
large as what the model already gains from it. Here a training-only probe (a C×C linear map, then the
model's own tied unembedding) reads block 0's output at position t and must predict token t-1. Attending
to t-1 is the only way layer 0 can carry that token to t, so the probe's loss gives that attention a
dense, direct gradient. The probe never enters the saved file (the model stays a plain GPT-2), and its
weight can fade to 0 over a number of steps, so the final steps train next-token prediction only.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.model import GPT

STRIDE = 4      # the probe reads every 4th position (from a random first one): the unembedding is the costly part


class PrevTokenProbe(nn.Module):
    def __init__(self, n_embd: int):
        super().__init__()
        self.proj = nn.Linear(n_embd, n_embd)

    def loss(self, model: GPT, h1: torch.Tensor, idx: torch.Tensor, first: int | None = None) -> torch.Tensor:
        """h1: (B, T, C) residual after block 0; idx: (B, T) input ids. Cross-entropy of token t-1 at t, for
        t = first, first+S, ...; `first` is drawn in 1..S (torch's RNG) so that every position gets trained:
        position embeddings are learned per position, and a head taught only some would skip the others."""
        if first is None:
            first = int(torch.randint(1, STRIDE + 1, ()).item())
        h = h1[:, first::STRIDE]                                             # (B, T', C)
        prev = idx[:, first - 1::STRIDE][:, : h.shape[1]]                    # (B, T') the tokens one before them
        z = F.layer_norm(self.proj(h), (h.shape[-1],))
        logits = model.lm_head(z)                                            # (B, T', V)
        return F.cross_entropy(logits.float().flatten(0, 1), prev.reshape(-1))


@contextmanager
def block0_output(model: GPT):
    """Within: every forward of `model` appends its residual stream after block 0, (B, T, C), to the
    yielded list. A hook, so the forward is the model's own."""
    seen: list[torch.Tensor] = []
    handle = model.transformer.h[0].register_forward_hook(lambda _mod, _inp, out: seen.append(out[0]))
    try:
        yield seen
    finally:
        handle.remove()


def parse_aux(arg: str | None) -> tuple[float, int]:
    """'W' or 'W:FADE' -> (weight, fade steps; 0 = constant)."""
    if arg is None:
        return 0.0, 0
    try:
        parts = [float(p) for p in str(arg).split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or parts[0] < 0 or (len(parts) == 2 and (parts[1] < 1 or parts[1] != int(parts[1]))):
        raise ValueError(f"--prev-token-aux {arg}: expected WEIGHT or WEIGHT:FADE_STEPS (weight >= 0, steps >= 1)")
    return parts[0], int(parts[1]) if len(parts) == 2 else 0


def aux_weight(weight: float, fade: int, steps_into_run: int) -> float:
    """The probe's loss weight at this step: constant, or fading linearly to 0 over `fade` steps."""
    if fade <= 0:
        return weight
    return weight * max(0.0, 1.0 - steps_into_run / fade)
