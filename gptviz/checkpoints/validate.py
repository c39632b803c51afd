"""Cross-check weights against their config before any model is built; convert to our key layout."""
from __future__ import annotations

import os
from typing import Callable

import torch

from ..core.config import GPTConfig
from .errors import CheckpointError

# Maps a file's key to ours, or None for keys to ignore (e.g. HF's causal-mask buffers).
Rename = Callable[[str], "str | None"]


def check_state_dict(cfg: GPTConfig, shapes: dict[str, tuple[int, ...]], source: str) -> None:
    """Raise CheckpointError naming the key and both shapes on any missing, extra or misshapen weight.

    `shapes` maps our key names to the shapes found in the file (read from headers where possible,
    so this runs before tensors are allocated).
    """
    expected = cfg.expected_shapes()
    for key, want in expected.items():
        if key not in shapes:
            raise CheckpointError(f"{source}: missing weight {key} (expected shape {list(want)})")
        if tuple(shapes[key]) != tuple(want):
            raise CheckpointError(f"{source}: weight {key} has shape {list(shapes[key])}, "
                                  f"config expects {list(want)}")
    extra = sorted(set(shapes) - set(expected))
    if extra:
        k = extra[0]
        raise CheckpointError(f"{source}: unexpected weight {k} with shape {list(shapes[k])} "
                              f"(config has n_layer={cfg.n_layer}, bias={cfg.bias}); {len(extra)} extra key(s)")
    check_fits_in_memory(cfg, source)


def available_memory() -> int | None:
    """Bytes the kernel says can still be allocated without swapping (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(cfg, source: str, n_params: int | None = None, dtype=None) -> None:
    """Refuse up front, from the header's sizes, a model whose weights in the dtype they will be held in
    (float32 unless asked otherwise) would not fit in free memory."""
    dtype = dtype or torch.float32
    n = cfg.n_params() if n_params is None else n_params
    size = torch.empty(0, dtype=dtype).element_size()
    need = n * size + 256 * 2**20          # weights + room for a trace
    free = available_memory()
    if free is not None and need > free:
        raise CheckpointError(f"{source}: refused: the model needs about {need / 2**30:.1f} GiB "
                              f"({n / 1e6:,.0f}M parameters as {str(dtype).removeprefix('torch.')}) but only "
                              f"{free / 2**30:.1f} GiB of memory is free")


def renamed_shapes(shapes: dict[str, tuple[int, ...]], rename: Rename, source: str) -> dict[str, str]:
    """Our key -> the file's key, for every key `rename` keeps; two file keys landing on one is an error."""
    mapping: dict[str, str] = {}
    for old in shapes:
        new = rename(old)
        if new is None:
            continue
        if new in mapping:
            raise CheckpointError(f"{source}: keys {mapping[new]} and {old} both give weight {new}")
        mapping[new] = old
    return mapping


def convert_tensors(raw: dict[str, torch.Tensor], cfg: GPTConfig, source: str, rename: Rename,
                    transpose: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
    """Rename, check against cfg, then transpose (HF Conv1D is (in, out)) and cast to float32."""
    for k, t in raw.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{source}: entry {k} is a {type(t).__name__}, not a tensor")
    mapping = renamed_shapes({k: tuple(t.shape) for k, t in raw.items()}, rename, source)
    shapes = {new: oriented(tuple(raw[old].shape), new in transpose) for new, old in mapping.items()}
    check_state_dict(cfg, shapes, source)
    return {new: owned_float32(raw[old], new in transpose) for new, old in mapping.items()}


def owned_float32(t: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """A float32, contiguous copy in memory of its own, transposed if asked.

    safetensors and torch.load(mmap=True) hand out tensors that live in a mapping of the file; a
    float32 tensor kept as it is would keep the whole mapping alive, and every page read once stays
    resident beside the copies made for the transposed and cast weights (measured: 6.0 GB mapped on
    top of 5.9 GB of copies for a GPT-2-XL-shaped file). Copying each tensor releases the mapping
    when the file is closed, so what stays resident is the weights once.
    """
    return (t.t() if transpose else t).to(torch.float32, memory_format=torch.contiguous_format, copy=True)


def oriented(shape: tuple[int, ...], transposed: bool) -> tuple[int, ...]:
    """A weight's shape in our layout: reversed where the file stores it transposed (HF Conv1D)."""
    return tuple(reversed(shape)) if transposed else tuple(shape)


def mixed_prefix_warning(keys, prefix: str) -> list[str]:
    """A visible note when only some keys carry a prefix (we accept both, but it is unusual)."""
    keys = list(keys)
    n = sum(k.startswith(prefix) for k in keys)
    return [f"{n} of {len(keys)} weight names start with '{prefix}' and the rest do not; both were accepted"] \
        if 0 < n < len(keys) else []


def non_finite_warnings(state: dict[str, torch.Tensor]) -> list[str]:
    bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if not bad:
        return []
    return [f"{len(bad)} weight(s) contain NaN or Inf (first: {bad[0]}); outputs may be NaN"]
