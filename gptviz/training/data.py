"""Training data for `gptviz train`: tokenised files, a held-out tail of each, and batch sampling.

Each file is one document unless it contains literal `<|endoftext|>` separators; documents are
joined with the end-of-text token. The last `val_fraction` of every file's tokens is held out.
A share of training sequences can be "repeated spans" (random tokens, then the same tokens again),
the standard way to make induction heads form in a small budget; their first copy carries no loss.
Another share can be "repeated passages": a span of real text written twice or more, so that induction
is also learned on natural text (its first copy keeps its loss: it is ordinary text).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.tokenizer import ENDOFTEXT, Tokenizer


@dataclass
class DataFile:
    path: Path
    weight: float
    sha256: str
    train: np.ndarray   # (N,) int64 token ids
    val: np.ndarray


def parse_data_arg(arg: str) -> tuple[Path, float]:
    """FILE or FILE:WEIGHT (sampling weight; default 1)."""
    head, sep, tail = arg.rpartition(":")
    if sep and head:
        try:
            return Path(head), float(tail)
        except ValueError:
            pass
    return Path(arg), 1.0


def load_files(args: list[str], tokenizer: Tokenizer, val_fraction: float, block_size: int) -> list[DataFile]:
    files = []
    for arg in args:
        path, weight = parse_data_arg(arg)
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        ids: list[int] = []
        for doc in text.split(ENDOFTEXT):
            if doc.strip():
                ids.extend(tokenizer.enc.encode_ordinary(doc) if hasattr(tokenizer, "enc") else tokenizer.encode(doc))
                if tokenizer.eot_id is not None:
                    ids.append(tokenizer.eot_id)
        arr = np.asarray(ids, dtype=np.int64)
        n_val = int(len(arr) * val_fraction)
        if len(arr) - n_val <= block_size + 1:
            raise ValueError(f"{path}: {len(arr)} tokens is too little text for block_size {block_size}")
        files.append(DataFile(path, weight, hashlib.sha256(raw).hexdigest(), arr[: len(arr) - n_val], arr[len(arr) - n_val:]))
    return files


class Sampler:
    """Random training windows (B, T+1) by file weight, plus repeated-span sequences."""

    def __init__(self, files: list[DataFile], block_size: int, repeat_ids: np.ndarray, repeat_fraction: float,
                 seed: int, short_period_fraction: float = 0.5, natural_fraction: float = 0.0):
        self.files = files
        self.T = block_size
        self.repeat_ids = np.asarray(repeat_ids, dtype=np.int64)    # repeated spans draw from these ids...
        self.repeat_n = len(self.repeat_ids)                        # ...the first repeat_n of them (a curriculum)
        self.short_period_fraction = short_period_fraction
        self.repeat_fraction = repeat_fraction
        self.natural_fraction = natural_fraction
        if repeat_fraction + natural_fraction > 1:
            raise ValueError(f"--repeat-fraction {repeat_fraction} plus --repeat-natural-fraction {natural_fraction} "
                             "is more than 1")
        w = np.asarray([f.weight for f in files], dtype=np.float64)
        self.p = w / w.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, B: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.empty((B, self.T), dtype=np.int64)
        y = np.empty((B, self.T), dtype=np.int64)
        for b in range(B):
            r = self.rng.random()
            if r < self.repeat_fraction:
                x[b], y[b] = self._repeated()
            elif r < self.repeat_fraction + self.natural_fraction:
                x[b], y[b] = self._passage()
            else:
                chunk = self._text(self.T + 1)
                x[b], y[b] = chunk[:-1], chunk[1:]
        return x, y

    def _text(self, n: int) -> np.ndarray:
        """n consecutive training tokens of a file chosen by weight."""
        f = self.files[self.rng.choice(len(self.files), p=self.p)]
        i = self.rng.integers(0, len(f.train) - n)
        return f.train[i: i + n]

    def _passage(self) -> tuple[np.ndarray, np.ndarray]:
        # Real text, then the same text again (and again, to fill the window): what a prompt that quotes
        # itself looks like. Lengths 8..T/2 tokens, so every window holds at least two copies.
        L = int(self.rng.integers(8, self.T // 2 + 1))
        seq = np.resize(self._text(L), self.T + 1)
        return seq[:-1].copy(), seq[1:].copy()

    def _repeated(self) -> tuple[np.ndarray, np.ndarray]:
        # A share (short_period_fraction) of spans have periods 2..7: "a b a b ..." can be solved by looking
        # at the previous token and copying it, a one-layer circuit that induction heads can build on.
        short = self.short_period_fraction > 0 and self.rng.random() < self.short_period_fraction
        L = int(self.rng.integers(2, 8)) if short else int(self.rng.integers(8, self.T // 2 + 1))
        span = self.repeat_ids[self.rng.integers(0, self.repeat_n, size=L)]
        seq = np.resize(span, self.T + 1)          # span, span, span... cut to T+1
        x, y = seq[:-1].copy(), seq[1:].copy()
        y[: L - 1] = -1                            # the first copy is unpredictable: no loss there
        return x, y


def val_windows(arr: np.ndarray, T: int, max_windows: int) -> np.ndarray:
    """Non-overlapping (n, T+1) windows from the start of a held-out stream: the same every evaluation."""
    n = min(max_windows, (len(arr) - 1) // T)
    return np.stack([arr[i * T: i * T + T + 1] for i in range(n)]) if n else np.empty((0, T + 1), np.int64)
