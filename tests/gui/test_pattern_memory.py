"""In the app, an attention pattern the memo lets go gives its memory to a later pattern: nothing in the
window (panels, the worker's context, the client) keeps it alive. Fresh memory doubled a 512-token pattern's
compute time (views/buffers.py)."""
import numpy as np

from gptviz.views import Attention
from gptviz.views.buffers import PATTERNS
from .conftest import settle

# first words of one GPT-2 token each: every prompt has the same length, so every pattern the same shape
WORDS = ["cat", "dog", "red", "sun", "car", "man", "big", "old", "new", "hot"]


def test_patterns_let_go_are_computed_into_again(qtbot, window):
    PATTERNS.clear()
    reused, lengths = PATTERNS.reused, set()
    for w in WORDS:
        window.editor.setPlainText(f"{w} one two three two three four")
        settle(qtbot, window)
        r = window.current("attention")
        lengths.add(r.T)
        tr = window.client._worker.model.fork().trace(window.editor.toPlainText())
        np.testing.assert_array_equal(r.attention, tr.attention(r.layer))   # bit-equal to a fresh pattern
    memo = window.client.scheduler.memo
    assert len(lengths) == 1
    assert sum(isinstance(k[-1], Attention) for k in memo) == Attention.memo_max
    # every pattern after the memo filled up went into a block an evicted one gave back
    assert PATTERNS.reused - reused >= len(WORDS) - Attention.memo_max - 1
