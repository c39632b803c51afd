"""Reading .safetensors through the safetensors library, with header-first checks and clear errors."""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from ..core.config import GPTConfig
from .errors import CheckpointError
from .validate import Rename, check_state_dict, oriented, owned_float32, renamed_shapes

CORRUPT = "incomplete or corrupt safetensors file"


@dataclass
class SafetensorsFile:
    path: Path
    metadata: dict
    shapes: dict[str, tuple[int, ...]]

    def load(self, cfg: GPTConfig, source: str, rename: Rename = lambda k: k,
             transpose: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
        """Check names/shapes against cfg (after `rename`) from the header, then read the tensors as float32."""
        renamed = renamed_shapes(self.shapes, rename, source)
        shapes = {new: oriented(self.shapes[old], new in transpose) for new, old in renamed.items()}
        check_state_dict(cfg, shapes, source)
        out = {}
        try:
            with safe_open(str(self.path), framework="pt", device="cpu") as f:
                for new, old in renamed.items():
                    out[new] = owned_float32(f.get_tensor(old), new in transpose)   # not a view of the mapping
        except OSError as e:
            raise CheckpointError(f"{self.path}: cannot read ({e.strerror or e})") from None
        except Exception as e:  # safetensors raises its own error type for truncated data
            raise CheckpointError(f"{self.path}: {CORRUPT} ({e})") from None
        return out


def read_safetensors(path: Path) -> SafetensorsFile:
    """Read only the header: names, shapes, metadata. Verifies the header fits inside the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: {CORRUPT} (file is {size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise CheckpointError(f"{path}: {CORRUPT} (header claims {n} bytes, file has {size})")
            header = json.loads(fh.read(n))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: {CORRUPT} (header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: {CORRUPT} (header is not a mapping)")
    end = 0
    shapes = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        try:
            shapes[k] = tuple(int(s) for s in v["shape"])
            end = max(end, int(v["data_offsets"][1]))
        except (TypeError, KeyError, ValueError, IndexError):
            raise CheckpointError(f"{path}: {CORRUPT} (bad entry for {k})") from None
    if 8 + n + end > size:
        raise CheckpointError(f"{path}: {CORRUPT} (tensors need {8 + n + end} bytes, file has {size})")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: {CORRUPT} (metadata is not a mapping)")
    return SafetensorsFile(path, meta, shapes)
