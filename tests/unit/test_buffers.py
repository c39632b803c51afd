"""views.buffers: a pattern's memory, once nothing reads it, is reused by the next pattern, and a pattern
computed into reused memory equals transformers' attention (no stale value survives)."""
import gc

import numpy as np
import torch

import gptviz
from gptviz.views import Attention, Context, Prompt
from gptviz.views.buffers import PATTERNS, BufferPool

TEXT = "one two three two three four"


def test_a_block_let_go_is_reused():
    pool = BufferPool()
    a = pool.take((4, 5, 5))
    a[:] = 1
    where = a.ctypes.data
    del a
    b = pool.take((4, 5, 5))
    assert b.ctypes.data == where and b.shape == (4, 5, 5) and b.flags.writeable and b.flags.c_contiguous
    assert (pool.reused, pool.fresh) == (1, 1)


def test_a_block_still_viewed_is_not_reused():
    pool = BufferPool()
    a = pool.take((4, 5, 5))
    head = a[1]                          # a panel or export still reading one head
    where = a.ctypes.data
    del a
    gc.collect()
    b = pool.take((4, 5, 5))
    assert b.ctypes.data != where and pool.reused == 0
    other = b.ctypes.data
    del b, head
    c = pool.take((4, 5, 5))             # the view is gone: its block can come back
    assert pool.reused == 1 and c.ctypes.data in (where, other)


def test_sizes_that_fit_and_the_pool_bound():
    pool = BufferPool(max_blocks=2)
    a = pool.take((2, 10, 10))           # a block of 225 (12.5 % slack)
    del a
    grown = pool.take((2, 10, 11))       # the next keystroke's slightly larger pattern fits
    assert pool.reused == 1
    del grown
    small = pool.take((2, 3, 3))         # 18: the 225 block would waste more than half
    assert (pool.reused, pool.fresh) == (1, 2)
    del small
    big = pool.take((2, 10, 12))         # 240: neither block holds it
    assert (pool.reused, pool.fresh) == (1, 3)
    del big
    blocks = [pool.take((1, 100 + i)) for i in range(4)]
    del blocks
    assert len(pool._free) == 2          # at most max_blocks kept, the newest


def test_pattern_in_recycled_memory_equals_transformers(hf_folder, hf_model):
    model = gptviz.load(str(hf_folder))
    ids = model.tokenizer.encode(TEXT)
    with torch.no_grad():
        ref = hf_model(torch.tensor([ids]), output_attentions=True).attentions     # L x (1, H, T, T)
    H, T = ref[0].shape[1], len(ids)
    PATTERNS.clear()
    junk = PATTERNS.take((H, T, T))
    junk[:] = np.nan                     # what a previous pattern left there, at its worst
    where = junk.ctypes.data
    del junk
    reused = PATTERNS.reused
    ctx = Context(model, model.trace(TEXT), Prompt(TEXT), None)
    r = Attention(1).compute(ctx)
    assert PATTERNS.reused == reused + 1 and r.attention.ctypes.data == where
    np.testing.assert_allclose(r.attention, ref[1][0].numpy(), atol=1e-5)
    assert (np.triu(r.attention, 1) == 0).all()                       # the future is exactly zero
    assert not r.attention.flags.writeable
