"""What the Tokens view computes in the worker for the strip (character offsets, token byte starts), checked
against a direct computation on the text, and the chip strip's vectorised layout against a per-chip one."""
import numpy as np
import pytest
from PySide6.QtGui import QFontMetrics

import gptviz
from gptviz.ui.widgets.token_chips import TokenChips
from gptviz.views import Context, Prompt, Tokens

TEXT = "Hi 🙂 你好, wörld 🎉! 日本語 and some plain words"


@pytest.fixture(scope="module")
def model(hf_folder):
    return gptviz.load(str(hf_folder))


def tokens_result(model, text, bos=False):
    model.clear_cache()
    return Tokens().compute(Context(model, model.trace(text, prepend_bos=bos), Prompt(text, bos)))


@pytest.mark.parametrize("bos", [False, True])
def test_offsets_and_starts_match_the_text(model, bos):
    r = tokens_result(model, TEXT, bos)
    # each character's UTF-8 start, counted one character at a time
    want = [0]
    for ch in TEXT:
        want.append(want[-1] + len(ch.encode("utf-8")))
    assert r.char_offsets.tolist() == want
    assert r.first == (1 if bos else 0)
    pieces = r.tokens[r.first:]
    data = TEXT.encode("utf-8")
    assert len(r.piece_starts) == len(pieces)
    off = 0
    for s, p in zip(r.piece_starts.tolist(), pieces):
        assert s == off and data[s:s + len(p.bytes)] == p.bytes
        off += len(p.bytes)
    assert off == len(data)
    assert not r.char_offsets.flags.writeable       # shared with the memo: read-only like every result array


def test_truncated_prompt_starts_index_the_end_of_the_text(model):
    text = " ".join(f"wörd{i} 🙂" for i in range(80))            # well past the fixture model's 64-token context
    r = tokens_result(model, text, bos=True)
    assert r.truncated and r.first == 0                            # the window cut the BOS off
    data = text.encode("utf-8")
    for s, p in zip(r.piece_starts.tolist(), r.tokens):
        assert data[s:s + len(p.bytes)] == p.bytes
    assert r.piece_starts[-1] + len(r.tokens[-1].bytes) == len(data)
    assert np.all(np.diff(r.piece_starts) == [len(p.bytes) for p in r.tokens[:-1]])


def test_chip_layout_wraps_greedily_with_each_tokens_own_width(qtbot, model):
    r = tokens_result(model, " ".join(["alpha beta", "γάμμα", "🙂", "delta"] * 12))
    chips = TokenChips()
    qtbot.addWidget(chips)
    chips.resize(300, 100)
    chips.show()                           # a hidden widget gets its resize events only when shown
    chips.set_pieces(r.tokens)
    ft, fi = QFontMetrics(chips.font_text), QFontMetrics(chips.font_id)
    for i, p in enumerate(r.tokens):       # measured per chip here, not through the per-id cache
        assert chips._w[i] == max(ft.horizontalAdvance(p.text), fi.horizontalAdvance(str(p.id))) + 10
    limit = max(100, chips.width() - 8)
    x, y, w = chips._x.tolist(), chips._y.tolist(), chips._w.tolist()
    assert len(set(y)) > 2                                         # it did wrap
    for i in range(1, len(x)):
        if y[i] == y[i - 1]:
            assert x[i] == x[i - 1] + w[i - 1] + 3                 # same row: 3 px apart
        else:
            assert y[i] > y[i - 1] and x[i] == 4
            assert x[i - 1] + w[i - 1] + 3 + w[i] > limit          # it did not fit on the row before
        assert x[i] + w[i] <= limit or x[i] == 4                   # only a lone too-wide chip overflows
    # a narrower strip re-wraps to more rows; a height-only resize keeps the layout
    rows = len(set(y))
    chips.resize(200, 100)
    assert len(set(chips._y.tolist())) > rows
    before = chips._y.copy()
    chips.resize(200, 900)
    assert np.array_equal(chips._y, before)
