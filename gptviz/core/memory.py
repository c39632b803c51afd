"""Keep the resident size close to what is live across keystrokes (glibc only).

glibc raises its mmap threshold after large blocks are freed, so later multi-MiB activations come
from the heap, and freed heap memory stays resident (measured: a 1024-token GPT-2-medium trace left
~540 MiB resident for ~290 MiB of live caches). A fixed threshold sends larger blocks to mmap, which
returns them to the system when freed.

Why 4 MiB and not 1 MiB: every mmap'd block is fresh pages, page-faulted in on first touch. At 1 MiB the
views' numpy temporaries (the overview's 64 rows x 512 keys x 12 heads = 1.5 MiB) were mapped and faulted
in on every keystroke: GPT-2-small at 512 tokens, one layer's pattern 9.3 -> 4.9 ms and the overview
56-66 -> 22-24 ms with those blocks on the heap. Peak beyond the weights of the 1024-token GPT-2-medium
trace (bench_memory.py): 463 MiB at 1 MiB, 499 MiB at 4 MiB (bound 512).

Setting the mmap threshold also freezes glibc's trim threshold at 128 KiB, so the heap's top was handed back
to the system after almost every free and faulted in again by the next allocation: a one-token append at 512
tokens (GPT-2-small) copies ~75 MB of cached rows into new tensors, ~18,000 page faults, 53-75 ms. Keeping
up to 16 MiB of free heap top resident: no faults, 40-42 ms.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_done = False


def _glibc():
    """The C library when it is glibc (mallopt and malloc_trim), else None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def return_freed_memory_promptly(threshold: int = 4 << 20, keep_top: int = 16 << 20) -> bool:
    """Set glibc's mmap threshold (and the free heap top it keeps) once per process; True if applied."""
    global _done
    libc = None if _done else _glibc()
    if libc is not None:
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, keep_top))
    return _done


def trim_freed_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc malloc_trim): a load's temporaries under the
    4 MiB threshold (transposed copies, dtype casts) would otherwise stay resident beside the weights."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
