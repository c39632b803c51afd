"""Find the snapshots of one training run in a folder, as (step, path) sorted by step.

Understood layouts (any mix in one folder):
- ours: gptviz .safetensors files (`gptviz train --snapshot-every N` writes step-000200.safetensors); the step
  is the "snapshot" metadata entry's, else training.steps, else the last number in the name;
- Hugging Face Trainer output: checkpoint-<step>/ subfolders with config.json and model weights;
- nanoGPT: .pt/.pth/.ckpt checkpoints (model_args + model); the step is iter_num, else the number in the name;
- a Hugging Face cache entry (models--org--name/) whose refs name revisions with a step (step1000,
  checkpoint-10000): refs/<revision> holds the commit, snapshots/<commit>/ the files.
Each path found opens with gptviz.load(path). Torch files are read only through torch_io (weights_only=True).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CheckpointError
from .hf import find_weights
from .nanogpt import is_nanogpt
from .native import is_native
from .safetensors_io import read_safetensors
from .torch_io import load_torch_file

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
_LAST_NUMBER = re.compile(r"(\d+)\D*$")
_HF_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
LOOKED_FOR = ("gptviz .safetensors files with a step (gptviz train --snapshot-every), Hugging Face "
              "checkpoint-<step>/ folders with config.json and weights, nanoGPT .pt checkpoints (iter_num or a "
              "step in the name), or a Hugging Face cache entry with step revisions (refs/ and snapshots/)")


@dataclass(frozen=True)
class Snapshot:
    step: int
    path: Path                       # what gptviz.load() opens: a file or a Hugging Face folder
    fmt: str                         # "gptviz", "hf", "nanogpt"
    info: dict = field(default_factory=dict, compare=False)   # ours: the "snapshot" metadata entry
    named: bool = field(default=True, compare=False)          # the step shows in the file or folder name


def name_step(name: str) -> int | None:
    m = _LAST_NUMBER.search(name)
    return int(m.group(1)) if m else None


def find_snapshots(folder) -> list[Snapshot]:
    """Every snapshot in `folder`, sorted by step (one per step); CheckpointError naming what was looked for."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder (a timeline reads a folder of snapshots)")
    skipped: list[str] = []
    found = _ours(folder, skipped) + _hf_trainer(folder) + _nanogpt(folder, skipped) + _hf_cache(folder)
    if not found:
        why = f"; skipped {skipped[0]}" + (f" and {len(skipped) - 1} more" if len(skipped) > 1 else "") if skipped \
            else ""
        raise CheckpointError(f"{folder}: no training snapshots found (looked for {LOOKED_FOR}){why}")
    by_step: dict[int, Snapshot] = {}
    for s in sorted(found, key=lambda s: (s.step, not s.named, str(s.path))):
        by_step.setdefault(s.step, s)      # nanoGPT's ckpt.pt is often a copy of the newest ckpt_<step>.pt
    return [by_step[k] for k in sorted(by_step)]


def _ours(folder: Path, skipped: list[str]) -> list[Snapshot]:
    out = []
    for f in sorted(folder.glob("*.safetensors")):
        try:
            meta = read_safetensors(f).metadata
        except CheckpointError as e:
            skipped.append(str(e))
            continue
        if not is_native(meta):
            continue
        info = _json(meta.get("snapshot"))
        step = info.get("step")
        if not isinstance(step, int):
            step = _json(meta.get("training")).get("steps")
        if not isinstance(step, int):
            step = name_step(f.stem)
        if isinstance(step, int):
            out.append(Snapshot(step, f, "gptviz", info, named=name_step(f.stem) == step))
        else:
            skipped.append(f"{f.name} (a gptviz file without a step)")
    return out


def _hf_trainer(folder: Path) -> list[Snapshot]:
    out = []
    for d in sorted(folder.iterdir()):
        m = _HF_CHECKPOINT.match(d.name)
        if m and d.is_dir() and (d / "config.json").is_file() and find_weights(d):
            out.append(Snapshot(int(m.group(1)), d, "hf"))
    return out


def _nanogpt(folder: Path, skipped: list[str]) -> list[Snapshot]:
    out = []
    for f in sorted(folder.iterdir()):
        if f.suffix not in TORCH_SUFFIXES or not f.is_file() or f.name.endswith(".state.pt"):
            continue                     # OUT.state.pt is `gptviz train --resume` state, not a model
        try:
            raw = load_torch_file(f)     # weights_only=True; mmap: tensors stay on disk
        except CheckpointError as e:
            skipped.append(str(e))
            continue
        if not is_nanogpt(raw):
            continue
        step = raw.get("iter_num")
        step = step if isinstance(step, int) and not isinstance(step, bool) else name_step(f.stem)
        if step is None:
            skipped.append(f"{f.name} (a nanoGPT checkpoint without iter_num or a step in its name)")
        else:
            out.append(Snapshot(step, f, "nanogpt", named=name_step(f.stem) == step))
    return out


def _hf_cache(folder: Path) -> list[Snapshot]:
    refs, snaps = folder / "refs", folder / "snapshots"
    if not (refs.is_dir() and snaps.is_dir()):
        return []
    out = []
    for ref in sorted(p for p in refs.rglob("*") if p.is_file()):
        step = name_step(ref.name)
        try:
            commit = ref.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        d = snaps / commit
        if step is not None and re.fullmatch(r"[0-9a-f]{7,64}", commit) and (d / "config.json").is_file() \
                and find_weights(d):
            out.append(Snapshot(step, d, "hf"))
    return out


def _json(s) -> dict:
    try:
        v = json.loads(s) if isinstance(s, str) else None
    except json.JSONDecodeError:
        return {}
    return v if isinstance(v, dict) else {}
