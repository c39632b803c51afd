"""What the screen says is right: axis labels sit on their cells and name the right tokens, read-outs do
not outlive what they describe, selections sum the rows that are boxed and follow their tokens, the
heads grid's empty states, and the token strip follows the cursor (pytest-qt, offscreen)."""
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QTextCursor
from PySide6.QtWidgets import QApplication

import gptviz
from gptviz.ui.panels.attention import HELP
from tests.gui.conftest import settle
from tests.reference import make_hf_model

PROMPT = "one two three four five six seven eight"        # short tokens: labels are never shortened


@pytest.fixture(scope="module")
def reference(hf_folder):
    return gptviz.load(str(hf_folder))


def _fresh(reference, text, bos=False):
    reference.clear_cache()
    return reference.trace(text, prepend_bos=bos)


def drawn_labels(axis) -> list[tuple[float, str, object]]:
    """(view coordinate of the label's centre, its text, its rect in scene pixels) for every label the
    axis draws now."""
    img = QImage(10, 10, QImage.Format_ARGB32)
    qp = QPainter(img)
    _, _, texts = axis.generateDrawSpecs(qp)
    qp.end()
    vb = axis.linkedView()
    out = []
    for rect, _, text in texts:
        c = vb.mapSceneToView(axis.mapToScene(rect.center()))
        out.append((c.x() if axis.orientation in ("top", "bottom") else c.y(), text, axis.mapRectToScene(rect)))
    return out


def assert_cell_labels(axis, names: list[str]) -> None:
    """Every tick is at a cell centre i + 0.5 and says names[i]; so does every drawn label, and no two
    drawn labels overlap."""
    lo, hi = axis.range
    length = axis.geometry().width() if axis.orientation in ("top", "bottom") else axis.geometry().height()
    levels = axis.tickValues(lo, hi, length)
    values = [v for _, vs in levels for v in vs]
    assert values, "the axis shows no ticks"
    pos = [int(round(v - 0.5)) for v in values]
    np.testing.assert_allclose(values, np.array(pos) + 0.5, atol=1e-9)
    assert axis.tickStrings(values, 1.0, 1.0) == [names[i] for i in pos]
    labels = drawn_labels(axis)
    assert len(labels) >= 2
    for v, text, _ in labels:
        i = int(np.floor(v))
        assert abs(v - (i + 0.5)) < 0.02 and text == names[i], (v, text)
    rects = sorted((r for _, _, r in labels), key=lambda r: (r.x(), r.y()))
    for a, b in zip(rects, rects[1:]):
        assert not a.adjusted(1, 1, -1, -1).intersects(b), (a, b)


def test_labels_sit_on_cell_centres(qtbot, window, reference):
    window.editor.setPlainText(PROMPT)
    settle(qtbot, window)
    names = [p.text for p in _fresh(reference, PROMPT).tokens]
    a = window.attention
    a.toggle_query(3)
    a.toggle_query(5)
    qtbot.waitUntil(lambda: a.sum_plot.isVisible())
    qtbot.wait(50)                                             # let the layout give the plots their size
    for axis in (a.xaxis, a.yaxis, a.sum_axis):
        assert_cell_labels(axis, names)
    # the cell under the centre of (key k, query q) is (q, k): hover and click read what the labels say
    for q, k in ((0, 0), (5, 2), (7, 7), (7, 0), (2, 6)):
        assert a.cell_at(a.plot.vb.mapViewToScene(QPointF(k + 0.5, q + 0.5))) == (q, k)
    pt = a.view.mapFromScene(a.plot.vb.mapViewToScene(QPointF(1.5, 6.5)))
    qtbot.mouseClick(a.view.viewport(), Qt.LeftButton, pos=pt)
    assert a.query == 6

    window.d_lens.raise_()
    qtbot.waitUntil(lambda: window.current("lens") is not None and window.client.idle, timeout=30000)
    qtbot.wait(50)
    f = window.current("lens")
    # positions down, the embedding and then each block across
    assert_cell_labels(window.lens.yaxis, [names[i] for i in f.positions])
    assert_cell_labels(window.lens.xaxis, ["emb"] + [str(i) for i in range(reference.config.n_layer)])

    window.d_residual.raise_()
    qtbot.waitUntil(lambda: window.current("residual") is not None and window.client.idle, timeout=30000)
    qtbot.wait(50)
    L = reference.config.n_layer
    for key, rows in (("resid_norm", ["embed"] + [f"block {i}" for i in range(L)]),
                      ("attn_norm", [f"block {i}" for i in range(L)])):
        xa, ya = window.residual.axes[key]
        assert_cell_labels(xa, names)
        assert_cell_labels(ya, rows)
    window.d_norms.raise_()


def test_labels_do_not_overlap_in_a_small_window(qtbot, window, reference):
    text = "Mr and Mrs Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal"
    window.resize(1000, 700)
    window.editor.setPlainText(text)
    settle(qtbot, window)
    a = window.attention
    a.toggle_query(4)
    qtbot.wait(100)
    names = [p.text for p in _fresh(reference, text).tokens]
    for axis in (a.xaxis, a.yaxis, a.sum_axis):
        assert_cell_labels(axis, names)
    # the summed bars sit under their key columns, and the colour bar is inside the canvas
    heat, bars = a.plot.vb.sceneBoundingRect(), a.sum_plot.vb.sceneBoundingRect()
    assert abs(heat.left() - bars.left()) < 1 and abs(heat.right() - bars.right()) < 1
    assert a.bar.sceneBoundingRect().right() <= a.view.viewport().width() + 1
    window.resize(1600, 1000)


def _hover(a, k, q):
    a._hover(a.plot.vb.mapViewToScene(QPointF(k + 0.5, q + 0.5)))
    assert a.readout.text() != HELP and f"#{q} " in a.readout.text()


def test_hover_readout_clears_when_stale(qtbot, window):
    window.editor.setPlainText(PROMPT)
    settle(qtbot, window)
    a = window.attention
    _hover(a, 1, 4)
    a.select(a.layer, (a.head + 1) % a.n_head)                 # another head
    assert a.readout.text() == HELP
    _hover(a, 1, 4)
    a.select(1, a.head)                                        # another layer
    assert a.readout.text() == HELP
    qtbot.waitUntil(lambda: window.current("attention") is not None and window.current("attention").layer == 1 and window.client.idle, timeout=30000)
    _hover(a, 1, 4)
    window.editor.setPlainText(PROMPT + " nine")               # new tokens
    settle(qtbot, window)
    assert a.readout.text() == HELP
    _hover(a, 1, 4)
    window.next_token.temperature.setValue(0.7)                # same tokens: the read-out still holds
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.current("next_token").view.temperature == 0.7 and window.client.idle, timeout=30000)
    assert a.readout.text() != HELP
    a.set_model(a.n_layer, a.n_head)                           # a model was (re)loaded
    assert a.readout.text() == HELP
    _hover(a, 1, 4)
    a._hover(a.plot.vb.mapViewToScene(QPointF(-3, -3)))        # off the matrix
    assert a.readout.text() == HELP
    _hover(a, 1, 4)
    QApplication.sendEvent(a.view.viewport(), QEvent(QEvent.Leave))   # the mouse left the plot
    assert a.readout.text() == HELP


def test_ctrl_click_adds_the_clicked_row(qtbot, window, reference):
    window.editor.setPlainText(PROMPT)
    settle(qtbot, window)
    a = window.attention
    m = _fresh(reference, PROMPT).attention(a.layer)[a.head]
    # on the heatmap: a plain click on row 2, then ctrl-click on row 5
    vp = a.view.viewport()

    def row(q):
        return a.view.mapFromScene(a.plot.vb.mapViewToScene(QPointF(0.5, q + 0.5)))
    qtbot.mouseClick(vp, Qt.LeftButton, pos=row(2))
    assert a.query == 2 and a.selection == []
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ControlModifier, pos=row(5))
    assert a.selection == [2, 5] and window.tokens.chips.marked == {2, 5}
    np.testing.assert_allclose(a.sum_bars.opts["height"], m[2] + m[5], atol=1e-5)
    assert a.sum_plot.titleLabel.text == "2 selected tokens, summed"
    qtbot.mouseClick(vp, Qt.LeftButton, Qt.ShiftModifier, pos=row(5))
    assert a.selection == [2]
    assert a.sum_plot.titleLabel.text == "1 selected token, summed"
    np.testing.assert_allclose(a.sum_bars.opts["height"], m[2], atol=1e-5)
    a.toggle_query(2)
    assert a.selection == [] and not a.sum_plot.isVisible()
    # on the token chips: the same
    window.tokens.chips.tokenClicked.emit(1)
    window.tokens.chips.tokenToggled.emit(6)
    assert a.selection == [1, 6]
    np.testing.assert_allclose(a.summed_attention(), m[[1, 6]].sum(0), atol=1e-5)


def test_locked_selection_follows_its_token(qtbot, window, reference):
    text = "one two three four five"
    window.editor.setPlainText(text)
    settle(qtbot, window)
    a = window.attention
    a.lock.setChecked(True)
    ids = [p.id for p in _fresh(reference, text).tokens]
    four, two = ids[3], ids[1]
    window.tokens.chips.tokenToggled.emit(3)                   # " four"
    window.tokens.chips.tokenClicked.emit(1)                   # " two", plainly
    new = "Hello there, one two three four five"
    window.editor.setPlainText(new)
    settle(qtbot, window)
    tr = _fresh(reference, new)
    new_ids = [int(i) for i in tr.token_ids]
    at = new_ids.index(four)
    assert at != 3 and a.selection == [at] and window.tokens.chips.marked == {at}
    assert a.query == new_ids.index(two) and window.tokens.chips.selected == a.query
    np.testing.assert_allclose(a.summed_attention(), tr.attention(a.layer)[a.head][at], atol=1e-5)
    window.editor.setPlainText("Hello there, one two three five")   # " four" is gone: it leaves the selection
    settle(qtbot, window)
    assert a.selection == [] and not a.sum_plot.isVisible()
    a.lock.setChecked(False)


def _visible_badges(heads) -> list[str]:
    return [t.toPlainText() for t in heads.labels if t.isVisible() and t.toPlainText()]


def test_heads_grid_empty_states(qtbot, window):
    h = window.heads
    window.d_heads.raise_()
    window.editor.setPlainText("a b a b a b a b")
    settle(qtbot, window)
    assert h.sel.isVisible() and h.img.image is not None and _visible_badges(h)
    window.editor.setPlainText("")
    settle(qtbot, window, "")
    assert _visible_badges(h) == [] and not h.sel.isVisible() and h.img.image is None
    assert h.empty.isVisible() and "type a prompt" in h.empty.toPlainText()


def test_heads_grid_before_a_frame_has_no_nonsense_axes(qtbot):
    from gptviz.ui.panels.heads import HeadsPanel
    h = HeadsPanel()
    qtbot.addWidget(h)
    h.resize(400, 400)
    h.show()
    qtbot.waitExposed(h)
    for side in ("left", "bottom"):
        axis = h.plot.getAxis(side)
        assert "x0." not in axis.labelString() and "(x" not in axis.labelString()
        assert drawn_labels(axis) == []                       # no tick numbers over an empty range
    assert h.empty.isVisible() and "waiting" in h.empty.toPlainText()


def test_heads_thumbnails_stay_readable(qtbot, tmp_path):
    from PySide6.QtCore import QSettings
    from gptviz.ui.main_window import MainWindow
    folder = tmp_path / "m66"
    make_hf_model(n_layer=6, n_head=6, n_embd=36).save_pretrained(folder)
    win = MainWindow(device="cpu", settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    with qtbot.waitSignal(win.client.modelLoaded, timeout=60000):
        win.load(str(folder))
    win.editor.setPlainText("Mr and Mrs Dursley, of number four, Privet Drive, were proud to say")
    settle(qtbot, win)
    h = win.heads
    assert h.shape == (6, 6)
    qtbot.wait(100)
    vb = h.plot.vb
    px = vb.mapViewToScene(QPointF(h.t, 0)).x() - vb.mapViewToScene(QPointF(0, 0)).x()
    assert px >= 24, px
    win.close()


def _owner_of_chars(text: str, pieces) -> list[int]:
    """Reference: the piece holding the first UTF-8 byte of each character (byte ownership in numpy)."""
    owner = np.repeat(np.arange(len(pieces)), [len(p.bytes) for p in pieces])      # (B,)
    starts = np.cumsum([0] + [len(ch.encode()) for ch in text])[:-1]                 # (N,)
    return owner[starts].tolist()


@pytest.mark.parametrize("bos", [False, True])
def test_token_at_char(qtbot, window, reference, bos):
    text = "Hi 🙂 你好, wörld 🎉! 日本語"
    window.bos_action.setChecked(bos)
    window.editor.setPlainText(text)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("tokens") is not None and window.current("tokens").prompt.prepend_bos == bos and window.client.idle, timeout=30000)
    tr = _fresh(reference, text, bos)
    pieces = tr.tokens[1:] if bos else tr.tokens
    assert b"".join(p.bytes for p in pieces) == text.encode()
    assert any(len(p.bytes.decode("utf-8", "ignore")) < len(p.bytes.decode("utf-8", "replace"))
               for p in pieces)                               # some piece splits a character
    want = [i + (1 if bos else 0) for i in _owner_of_chars(text, pieces)]
    got = [window.tokens.token_at_char(i) for i in range(len(text))]
    assert got == want
    assert window.tokens.token_at_char(len(text)) == tr.T - 1
    # the editor's cursor counts UTF-16 units (an emoji is two): the strip is told the character index
    i = text.index("wörld")
    c = window.editor.textCursor()
    c.setPosition(len(text[:i].encode("utf-16-le")) // 2)
    window.editor.setTextCursor(c)
    assert window.tokens._cursor == i
    window.bos_action.setChecked(False)


def test_token_strip_follows_the_cursor(qtbot, window):
    window.resize(1000, 700)
    window.editor.setPlainText("start")
    settle(qtbot, window)
    bar = window.tokens.scroll.verticalScrollBar()
    assert bar.value() == 0
    window.editor.moveCursor(QTextCursor.End)
    window.editor.insertPlainText(" the cat sat on the mat and" * 8)     # a long paste, cursor at its end
    settle(qtbot, window)
    chips, vp = window.tokens.chips, window.tokens.scroll.viewport()

    def shown(i):
        r = chips.chip_rect(i)
        return vp.rect().contains(chips.mapTo(vp, r.topLeft())) and vp.rect().contains(chips.mapTo(vp, r.bottomRight()))
    last = len(chips.pieces) - 1
    assert chips.height() > vp.height()                            # the strip does not fit: it must scroll
    qtbot.waitUntil(lambda: shown(last), timeout=5000)
    assert bar.value() > 0
    window.editor.moveCursor(QTextCursor.Start)
    qtbot.waitUntil(lambda: shown(0), timeout=5000)
    assert not shown(last)
    window.resize(1600, 1000)


def test_a_replaced_text_does_not_scroll_the_strip_to_the_old_tokens(qtbot, window):
    """Select all and paste another text: the chips still shown are the old text's, so the strip waits for the
    new tokens (scrolling to the old ones only repainted it), then shows the cursor's chip."""
    window.resize(1000, 700)
    window.editor.setPlainText(" the cat sat on the mat and" * 12)
    window.editor.moveCursor(QTextCursor.Start)
    settle(qtbot, window)
    bar = window.tokens.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == 0, timeout=5000)
    c = window.editor.textCursor()                                 # all selected, the cursor left at the start
    c.movePosition(QTextCursor.End)
    c.movePosition(QTextCursor.Start, QTextCursor.KeepAnchor)
    window.editor.setTextCursor(c)
    window.editor.insertPlainText(" a dog ran in the park then" * 12)  # the cursor at the new text's end
    assert bar.value() == 0                                          # not moved to the old text's last chip
    settle(qtbot, window)
    chips, vp = window.tokens.chips, window.tokens.scroll.viewport()
    last = chips.chip_rect(len(chips.pieces) - 1)
    qtbot.waitUntil(lambda: vp.rect().contains(chips.mapTo(vp, last.bottomRight())), timeout=5000)
    assert bar.value() > 0
    window.resize(1600, 1000)


def _edge_colours(img, r) -> int:
    """How many colours the chip's top outline has along its straight part (a dashed one has gaps)."""
    y = r.top()
    return len({img.pixelColor(x, y).name() for x in range(r.left() + 6, r.right() - 6)})


def test_shared_embedding_rows_are_marked(qtbot, window, reference, tmp_path):
    import torch
    text = "one two three four five six"
    ids = reference.tokenizer.encode(text)
    dup = [ids[1], ids[4], 7, 300, 4000, 12345]                 # " two", " five" and four ids not in the text
    model = make_hf_model()
    with torch.no_grad():
        model.transformer.wte.weight[dup] = model.transformer.wte.weight[50000].clone()   # 7 ids on one row
    folder = tmp_path / "dup"
    model.save_pretrained(folder)
    with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):
        window.load(str(folder))
    window.editor.setPlainText(text)
    settle(qtbot, window)
    chips = window.tokens.chips
    assert [chips.is_shared(i) for i in range(len(ids))] == [False, True, False, False, True, False]
    assert "shares one embedding row with 6 other ids the model never trained" in chips.tooltip(1)
    assert "embedding row" not in chips.tooltip(3)
    # drawn differently: chips 1 and 3 have the same fill; only the shared one has a dashed outline
    img = chips.grab().toImage()
    assert _edge_colours(img, chips.chip_rect(1)) > 1 and _edge_colours(img, chips.chip_rect(3)) == 1
