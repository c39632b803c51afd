"""A restricted unpickler for nanoGPT's meta.pkl: plain data only (dict, list, tuple, str, int, float, bool, None).

Every class lookup is refused, so no pickle opcode can reach a callable: a payload never runs.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

from .errors import CheckpointError

MAX_META_BYTES = 64 << 20


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent reference: only plain data is allowed")


def load_plain_pickle(path: Path):
    path = Path(path)
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise CheckpointError(f"{path}: {path.stat().st_size} bytes is too large for a vocabulary file")
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return _PlainDataUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused: {e}") from None
    except Exception as e:  # truncated or garbage pickles raise many types
        raise CheckpointError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
