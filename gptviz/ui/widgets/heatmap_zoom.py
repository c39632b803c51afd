"""Helpers for the attention heatmap at any length: following tokens across an edit, the causal mask
image, and which window of a long prompt's pattern the zoomed-in view needs exactly."""
from __future__ import annotations

import difflib
import math

import numpy as np

MASK_RGBA = (200, 200, 200, 255)     # the causal mask: future keys a query cannot see
_MASK = np.zeros((0, 0, 4), np.uint8)


def mask_image(T: int) -> np.ndarray:
    """(T, T, 4) uint8: grey above the diagonal, transparent elsewhere. The upper triangle of a T x T
    corner of a bigger triangle is the T x T triangle, so one cached array serves every length."""
    global _MASK
    if len(_MASK) < T:
        n = max(T, 1024)
        big = np.zeros((n, n, 4), np.uint8)
        big[np.triu(np.ones((n, n), bool), 1)] = MASK_RGBA
        _MASK = big
    return _MASK[:T, :T]


def follow_positions(old_ids: list[int], new_ids: list[int]) -> dict[int, int]:
    """Old position -> new position of the same token, aligning the two id sequences (an edit before a
    token moves it); tokens that vanished or changed have no entry. The common start and end are matched
    directly, so typing into a long prompt aligns only the few tokens around the edit."""
    a, b = np.asarray(old_ids, np.int64), np.asarray(new_ids, np.int64)
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    pre = int(diff[0]) if len(diff) else n
    m = min(len(a), len(b)) - pre
    diff = np.flatnonzero(a[len(a) - m:][::-1] != b[len(b) - m:][::-1]) if m else np.zeros(0, int)
    suf = int(diff[0]) if len(diff) else m
    out = {i: i for i in range(pre)}
    out.update({len(a) - 1 - i: len(b) - 1 - i for i in range(suf)})
    mid_a, mid_b = a[pre:len(a) - suf], b[pre:len(b) - suf]
    if not len(mid_a) or not len(mid_b):
        return out
    if len(mid_a) * len(mid_b) <= DIFF_CELLS:
        sm = difflib.SequenceMatcher(None, mid_a.tolist(), mid_b.tolist(), autojunk=False)
        for x, y, k in sm.get_matching_blocks():
            out.update({pre + x + i: pre + y + i for i in range(k)})
        return out
    # a long rewrite (a context window sliding past its first tokens): difflib is quadratic on repetitive
    # text, so only a shift of the whole middle is looked for, starting where the new middle's first token was
    best, shift = 0, 0
    for d in np.flatnonzero(mid_a == mid_b[0])[:16]:
        n = min(len(mid_a) - d, len(mid_b))
        bad = np.flatnonzero(mid_a[d:d + n] != mid_b[:n])
        run = int(bad[0]) if len(bad) else n
        if run > best:
            best, shift = run, int(d)
    out.update({pre + shift + i: pre + i for i in range(best)})
    return out


DIFF_CELLS = 40_000      # middle sizes multiplied: above it, difflib takes tens of ms on the GUI thread


def window_for(x_range, y_range, T: int) -> tuple[int, int, int, int] | None:
    """(q0, q1, k0, k1) of the region in view, snapped outward to a grid of a quarter of its extent (so
    small pans reuse the same window), or None when the view shows about all of the pattern."""
    (x0, x1), (y0, y1) = sorted(x_range), sorted(y_range)
    k0, k1 = max(0, math.floor(x0)), min(T, math.ceil(x1))
    q0, q1 = max(0, math.floor(y0)), min(T, math.ceil(y1))
    if k1 <= k0 or q1 <= q0 or (k1 - k0 >= 0.75 * T and q1 - q0 >= 0.75 * T):
        return None

    def snap(lo, hi):
        g = 2 ** max(0, int(math.log2(max(hi - lo, 1) / 4)))
        return lo // g * g, min(T, -(-hi // g) * g)
    return (*snap(q0, q1), *snap(k0, k1))
