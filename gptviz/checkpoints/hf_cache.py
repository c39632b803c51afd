"""The local Hugging Face cache, read without the network: every model repository in it, its family
(or why it is not supported), its size on disk and its revisions (refs such as main or Pythia's
step1000 branches, and snapshots no ref names).

Layout (huggingface_hub's): <cache>/models--<org>--<name>/refs/<revision> holds a commit hash,
snapshots/<commit>/ the files (usually symlinks into blobs/). The cache folder is HF_HUB_CACHE, else
HF_HOME/hub, else ~/.cache/huggingface/hub, read when called (so a changed environment applies).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class Revision:
    label: str          # the ref's name (main, step1000, pr/1) or the commit's first 10 digits
    commit: str
    path: Path          # snapshots/<commit>/, what gptviz.load opens
    step: int | None = None


@dataclass(frozen=True)
class CachedModel:
    repo_id: str
    model_type: str | None        # config.json's, None when it has none or no config.json at all
    family: str | None            # gptviz.models family; None: not supported (see `why`)
    size: int                     # bytes on disk, each blob counted once
    revisions: list[Revision] = field(default_factory=list)   # main first, then refs by step, then the rest
    why: str = ""                 # why it cannot be opened ("" when it can)

    @property
    def supported(self) -> bool:
        return self.family is not None


def cache_dir() -> Path:
    env = os.environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    home = Path(env["HF_HOME"]).expanduser() if env.get("HF_HOME") else Path.home() / ".cache" / "huggingface"
    return home / "hub"


def repo_folder(repo_id: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / ("models--" + repo_id.replace("/", "--"))


def _size(folder: Path) -> int:
    """Bytes of every file under `folder`, a file reached through several links counted once."""
    seen, total = set(), 0
    for p in folder.rglob("*"):
        try:
            st = p.stat()                          # follows snapshot symlinks to their blob
        except OSError:
            continue
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def revisions(folder: Path) -> list[Revision]:
    """The snapshots of one cached repository, main first, then step revisions by step, then the rest."""
    from .snapshots import name_step
    snaps = folder / "snapshots"
    if not snaps.is_dir():
        return []
    out, named = [], set()
    refs = folder / "refs"
    for ref in sorted(p for p in refs.rglob("*") if p.is_file()) if refs.is_dir() else []:
        try:
            commit = ref.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if _COMMIT.match(commit) and (snaps / commit).is_dir():
            label = ref.relative_to(refs).as_posix()
            out.append(Revision(label, commit, snaps / commit, name_step(label) if "step" in label else None))
            named.add(commit)
    for d in sorted(snaps.iterdir()):
        if d.is_dir() and d.name not in named:
            out.append(Revision(d.name[:10], d.name, d))
    return sorted(out, key=lambda r: (r.label != "main", r.step is None, r.step or 0, r.label))


def _describe(repo_id: str, folder: Path) -> CachedModel:
    from ..models import MODEL_TYPES
    from .hf import find_weights
    revs = revisions(folder)
    size = _size(folder)
    if not revs:
        return CachedModel(repo_id, None, None, size, [], "no snapshot in the cache")
    cfg = revs[0].path / "config.json"
    try:
        d = json.loads(cfg.read_text(encoding="utf-8"))
        mt = d.get("model_type", "gpt2") if isinstance(d, dict) else None
    except FileNotFoundError:
        return CachedModel(repo_id, None, None, size, revs, "no config.json (not a transformers model)")
    except (OSError, UnicodeDecodeError, ValueError):
        return CachedModel(repo_id, None, None, size, revs, "config.json is unreadable")
    if not isinstance(mt, str):
        return CachedModel(repo_id, None, None, size, revs, "config.json has no model_type")
    if mt not in MODEL_TYPES:
        return CachedModel(repo_id, mt, None, size, revs, f"model_type {mt!r} is not supported")
    usable = [r for r in revs if find_weights(r.path)]
    if not usable:
        return CachedModel(repo_id, mt, None, size, revs, "no weights downloaded (config only)")
    return CachedModel(repo_id, mt, MODEL_TYPES[mt], size, usable)


def cached_models(root: str | Path | None = None) -> list[CachedModel]:
    """Every model repository in the cache, supported or not, sorted by id (case-insensitively)."""
    root = Path(root).expanduser() if root else cache_dir()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and d.name.startswith("models--"):
            out.append(_describe(d.name.removeprefix("models--").replace("--", "/"), d))
    return sorted(out, key=lambda m: m.repo_id.lower())


def find_cached(model_id: str, root: Path | None = None) -> Path | None:
    """The snapshot folder of `org/name` or `org/name@revision` (a ref name or a commit prefix) in the
    cache, None when it is not there."""
    repo, _, rev = model_id.partition("@")
    folder = repo_folder(repo, root)
    revs = revisions(folder) if folder.is_dir() else []
    if not rev:
        return revs[0].path if revs else None
    for r in revs:
        if rev == r.label or (len(rev) >= 7 and r.commit.startswith(rev)):
            return r.path
    return None


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
