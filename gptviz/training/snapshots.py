"""--snapshot-every N: the model at step 0, every N steps and at the end, for `gptviz timeline`.

Each snapshot is one file of our format (checkpoints/native.py) in fp16, named step-000200.safetensors so
the names sort by step; its metadata holds a "snapshot" entry {"step", "tokens_seen", "train_loss" (the
running mean the progress line shows; null at step 0), "val_loss" {file: nats}, "seconds"} beside the
usual "training" facts. A compact-vocabulary run stores only its K+1 embedding rows and the map of ids
to rows (native.ROWS); loading expands them to the exact full-vocabulary model it saves at the end. Discovery and scoring live in checkpoints/snapshots.py and gptviz/timeline.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoints.native import ROWS, save_native
from ..core.config import GPTConfig
from ..core.tokenizer import Tokenizer
from .config import TrainConfig
from .vocab import CompactVocab

PREFIX = "step-"


def snapshot_name(step: int) -> str:
    return f"{PREFIX}{step:06d}.safetensors"


class Snapshots:
    def __init__(self, a: TrainConfig, cfg: GPTConfig, tok: Tokenizer, name: str):
        self.every = a.snapshot_every
        self.folder = Path(a.snapshot_folder) if self.every else None
        self.cfg, self.tok, self.name = cfg, tok, name
        if self.folder is not None:
            if self.folder.exists() and not self.folder.is_dir():
                raise ValueError(f"--snapshot-dir {self.folder}: exists and is not a folder")
            self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def on(self) -> bool:
        return self.folder is not None

    def due(self, step: int, last: int) -> bool:
        """After `step` steps of a run that stops at `last`: every N steps, and the last step."""
        return self.on and (step % self.every == 0 or step == last)

    def write(self, step: int, state: dict[str, torch.Tensor], facts: dict, train_loss: float | None,
              vocab: CompactVocab | None = None) -> Path:
        """`state`: the model being trained (compact rows when `vocab` is given)."""
        if vocab is not None:           # K+1 rows instead of V: 6.4 MB less per snapshot at d=64
            state = {**state, ROWS: torch.from_numpy(vocab.lut.astype(np.int32))}
        meta = {"step": step, "tokens_seen": facts["tokens_seen"],
                "train_loss": None if train_loss is None else round(float(train_loss), 4),
                "val_loss": {k: round(v, 4) for k, v in facts["val_loss"].items()}, "seconds": facts["seconds"]}
        path = self.folder / snapshot_name(step)
        tmp = path.with_name(path.name + ".tmp")          # a crash mid-write never leaves a half file
        save_native(tmp, state, self.cfg, self.tok, f"{self.name} step {step}", dtype=torch.float16,
                    extra={"snapshot": meta, "training": facts})
        tmp.replace(path)
        return path
