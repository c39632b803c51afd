"""torch.load for user files: weights_only=True always, never retried unsafely, errors made readable."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError


def load_torch_file(path: Path):
    path = Path(path)
    try:
        # mmap keeps a large file's tensors on disk until used; only the zip format supports it
        mmap = zipfile.is_zipfile(path)
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()
        why = next((ln for ln in first if "Unsupported" in ln or "global" in ln.lower()), first[0] if first else "")
        raise CheckpointError(f"{path}: refused: the file holds Python objects that are not plain tensors and "
                              f"data, which could run code ({why.strip()[:200]})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError, AttributeError, TypeError) as e:
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({msg})") from None
