"""torch.load for user files: weights_only=True always, never retried unsafely, errors made readable."""
from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError


def _check_zip(path: Path, size: int) -> None:
    """torch.save writes uncompressed entries; anything else (e.g. a deflate bomb) is refused unread."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if any(i.compress_type != zipfile.ZIP_STORED for i in infos):
        raise CheckpointError(f"{path}: refused: compressed entries (torch.save never writes them; "
                              "decompressing could exhaust memory)")
    declared = sum(i.file_size for i in infos)
    if declared > size:
        raise CheckpointError(f"{path}: refused: entries declare {declared} bytes in a {size}-byte file")


def _explain_unpickling(path: Path, e: Exception) -> CheckpointError:
    msg = " ".join(str(e).split())
    g = re.search(r"unsupported GLOBAL ([\w.]+)", msg, re.IGNORECASE)
    if g:
        return CheckpointError(f"{path}: refused: the file would import {g.group(1)}, which could run code; "
                               "only tensors and plain data are loaded")
    op = re.search(r"Unsupported operand \d+", msg)
    return CheckpointError(f"{path}: refused: not a PyTorch checkpoint that the safe loader can read "
                           f"({op.group(0) if op else msg[:120]}); it is never retried unsafely")


def load_torch_file(path: Path):
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    # mmap keeps a large file's tensors on disk until used; only the zip format supports it
    mmap = zipfile.is_zipfile(path)
    if mmap:
        _check_zip(path, size)
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols above 2 before refusing a file; the refusal
            # below is the one message the user gets (the CLI's contract: exactly one `error:` line)
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    except pickle.UnpicklingError as e:
        raise _explain_unpickling(path, e) from None
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        if "resize storage" in msg or "record size" in msg:
            raise CheckpointError(f"{path}: refused: a tensor declares more data than the file holds "
                                  "(corrupt or hostile file)") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({msg[:200]})") from None
    except (EOFError, KeyError, IndexError):   # torch's legacy reader meeting bytes that are not its format
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (not in PyTorch's file format, "
                              "or cut short)") from None
    except (ValueError, zipfile.BadZipFile, AttributeError, TypeError) as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({msg})") from None
