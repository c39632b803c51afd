"""A training timeline: for one prompt, each snapshot's loss and every head's previous-token and induction score.

No Qt: `gptviz timeline` prints it, and the app's timeline view can build on score_model / iter_timeline.
Scores are analysis.heads.head_scores over the exact attention of every query (tr.attention(layer)):
prev = mean attention on the previous token, induction = mean attention on the tokens that followed earlier
occurrences of the current token (queries with such an occurrence only; NaN when the prompt repeats none).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .analysis.heads import head_scores
from .checkpoints.snapshots import Snapshot, find_snapshots


@dataclass
class Scores:
    loss: float                  # mean next-token cross-entropy over the prompt, nats
    prev: np.ndarray             # (L, H) previous-token score
    induction: np.ndarray        # (L, H) induction score (NaN: the prompt repeats no token)
    n_tokens: int
    warnings: list[str] = field(default_factory=list)

    def best(self, which: str) -> tuple[int, int, float] | None:
        """(layer, head, score) of the highest-scoring head for "prev" or "induction"; None if all NaN."""
        a = getattr(self, which)
        if np.isnan(a).all():
            return None
        layer, head = np.unravel_index(np.nanargmax(a), a.shape)
        return int(layer), int(head), float(a[layer, head])


@dataclass
class TimelinePoint:
    snapshot: Snapshot
    scores: Scores

    def to_json(self) -> dict:
        s, snap = self.scores, self.snapshot
        bp, bi = s.best("prev"), s.best("induction")
        return {"step": snap.step, "path": str(snap.path), "format": snap.fmt, "tokens": s.n_tokens,
                "loss": _num(s.loss),
                "best_prev_token_head": list(bp[:2]) if bp else None, "best_prev_token_score": bp[2] if bp else None,
                "best_induction_head": list(bi[:2]) if bi else None, "best_induction_score": bi[2] if bi else None,
                "prev_token": _lists(s.prev), "induction": _lists(s.induction),
                **{k: snap.info[k] for k in ("tokens_seen", "train_loss", "val_loss") if k in snap.info},
                "warnings": s.warnings}


def prompt_loss(logits: np.ndarray, ids: np.ndarray) -> float:
    """Mean cross-entropy of predicting ids[t+1] from logits[t]; logits (T, V), ids (T,)."""
    z = logits[:-1].astype(np.float64)                                   # (T-1, V)
    m = z.max(axis=-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[:, 0]  # (T-1,)
    return float((lse - z[np.arange(len(z)), ids[1:]]).mean())


def score_trace(tr) -> Scores:
    """Scores of one forward pass (a core.trace.Trace) over at least 2 tokens."""
    if tr.T < 2:
        raise ValueError(f"the prompt is {tr.T} token{'s' * (tr.T != 1)}; a timeline needs at least 2")
    rows = np.arange(tr.T)
    per_layer = [head_scores(tr.attention(layer), rows, tr.token_ids) for layer in range(tr.n_layer)]
    warnings = list(tr.warnings)
    if tr.truncated:
        warnings.append(f"the prompt is {tr.n_prompt_tokens} tokens, longer than the context window: "
                        f"cut to the last {tr.T}")
    return Scores(prompt_loss(tr.logits(), tr.token_ids),
                  np.stack([s["prev"] for s in per_layer]), np.stack([s["induction"] for s in per_layer]),
                  tr.T, warnings)


def score_model(model, prompt: str, prepend_bos: bool = False) -> Scores:
    """`model`: a LoadedModel (gptviz.load)."""
    return score_trace(model.trace(prompt, prepend_bos=prepend_bos))


def iter_timeline(folder, prompt: str, device: str = "cpu", prepend_bos: bool = False,
                  snapshots: list[Snapshot] | None = None) -> Iterator[TimelinePoint]:
    """Load each snapshot in turn (one in memory at a time) and score it on `prompt`."""
    from .api import open_model
    for snap in find_snapshots(folder) if snapshots is None else snapshots:
        m = open_model(str(snap.path), device=device)
        yield TimelinePoint(snap, score_model(m, prompt, prepend_bos))
        del m


def format_line(p: TimelinePoint) -> str:
    """step, loss, best previous-token head L.H and score, best induction head and score."""
    s = p.scores
    def head(b):
        return f"L{b[0]}.H{b[1]} {b[2]:.3f}" if b else "-"
    return f"{p.snapshot.step:>8}  {s.loss:8.4f}  {head(s.best('prev')):>14}  {head(s.best('induction')):>14}"


HEADER = f"{'step':>8}  {'loss':>8}  {'prev-token':>14}  {'induction':>14}"


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _lists(a: np.ndarray) -> list[list[float | None]]:
    return [[_num(float(v)) for v in row] for row in a]

