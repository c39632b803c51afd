"""What the next-token, logit-lens, residual, compare, geometry and norms panels show is right and readable:
values against numpy recomputations, every label drawn, hover read-outs that clear when they go stale."""
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect
from PySide6.QtWidgets import QApplication
from safetensors.numpy import load_file, save_file

import gptviz
from tests.gui.conftest import settle

SHARED_WORDS = (" cat", " mat")


@pytest.fixture(scope="module")
def shared_folder(hf_folder, tmp_path_factory):
    """The small HF model with 102 ids (" cat", " mat" and ids 1000-1099) sharing one embedding row."""
    d = tmp_path_factory.mktemp("hf_shared")
    for name in ("config.json", "generation_config.json"):
        shutil.copy(hf_folder / name, d / name)
    w = load_file(str(hf_folder / "model.safetensors"))
    wte = w["transformer.wte.weight"].copy()                     # (V, d)
    tok = gptviz.load(str(hf_folder)).tokenizer
    ids = [tok.encode(s)[0] for s in SHARED_WORDS] + list(range(1000, 1100))
    wte[ids] = wte[2000] * 3                                     # one row, larger than the trained ones
    w["transformer.wte.weight"] = wte
    save_file(w, str(d / "model.safetensors"), metadata={"format": "pt"})
    return d


def hover(qtbot, widget, scene_pos):
    """Move the mouse over a pyqtgraph widget's scene position, as the scene reports it."""
    widget.scene().sigMouseMoved.emit(scene_pos)


def leave(widget):
    QApplication.sendEvent(widget, QEvent(QEvent.Leave))


def cell_centre(plot_item, x, y):
    """Scene position of data point (x, y) in a PlotItem."""
    return plot_item.vb.mapViewToScene(QPointF(x, y))


def test_shared_rows_in_geometry_and_norms(qtbot, window, shared_folder):
    with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):
        window.load(str(shared_folder))
    text = "The cat sat on the mat"
    window.d_norms.raise_()
    window.editor.setPlainText(text)
    settle(qtbot, window, text)
    qtbot.waitUntil(lambda: window.norms.result is not None and window.norms.result.prompt.text == text)
    # reference: which ids share a row, straight from the file
    wte = load_file(str(shared_folder / "model.safetensors"))["transformer.wte.weight"]
    rows, first = {}, []
    for i, r in enumerate(wte):
        rows.setdefault(r.tobytes(), []).append(i)
    shared = sorted(i for group in rows.values() if len(group) > 1 for i in group)
    assert len(shared) == 102
    unique_median = np.median([np.linalg.norm(wte[g[0]]) for g in rows.values()])
    cap = window.geometry.caption.text()
    assert f"token embedding {unique_median:.2f}" in cap
    assert "102 ids share one row" in cap and "excluded" in cap
    # the norms panel marks exactly the positions whose id is shared, at their (identical) norm
    ids = gptviz.load(str(shared_folder)).tokenizer.encode(text)
    pos = [i for i, t in enumerate(ids) if t in set(shared)]
    assert pos == [1, 5]
    x, y = window.norms.shared_marks.getData()
    np.testing.assert_array_equal(x, pos)
    np.testing.assert_allclose(y, np.linalg.norm(wte[ids[1]]), rtol=1e-5)
    note = window.norms.shared_note
    assert note.isVisible() and "#1 ␣cat" in note.text() and "#5 ␣mat" in note.text() and "identical" in note.text()
    assert "102 ids" in note.text()
    assert "id shares its embedding row" in [label.text for _, label in window.norms.legend.items]


def test_norms_legend_names_shared_rows_only_when_there_are_some(qtbot, window):
    """The fixture's random GPT-2 has a row per id: no ✕ entry in the legend (nothing could carry it)."""
    settle(qtbot, window)
    assert window.norms.result is not None and len(window.norms.shared_ids) == 0
    labels = [label.text for _, label in window.norms.legend.items]
    assert "id shares its embedding row" not in labels and "‖token embedding‖" in labels


def test_norms_readout_clears(qtbot, window):
    n = window.norms
    window.d_norms.raise_()
    window.editor.setPlainText("one two three four")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: n.result is not None and n.result.prompt.text == "one two three four")
    f = n.result
    hover(qtbot, n.plot, cell_centre(n.plot.getPlotItem(), 2, float(f.input_norm[2])))
    assert n.cursor.isVisible() and n.readout.text().startswith("#2 ")
    assert f"‖sum‖ {f.input_norm[2]:.3f}" in n.readout.text()
    leave(n.plot.viewport())                                   # the mouse leaves the plot
    assert not n.cursor.isVisible() and n.readout.text().startswith("Hover")
    hover(qtbot, n.plot, cell_centre(n.plot.getPlotItem(), 1, float(f.input_norm[1])))
    assert n.readout.text().startswith("#1 ")
    window.editor.setPlainText("five six")                      # the prompt changes under a still mouse
    settle(qtbot, window)
    qtbot.waitUntil(lambda: n.result.prompt.text == "five six")
    assert not n.cursor.isVisible() and n.readout.text().startswith("Hover")


def _reference_top(reference, text, temperature, k):
    """numpy top-k of a fresh trace's next-token distribution, best first (ties by lower id)."""
    reference.clear_cache()
    p = reference.trace(text).next_token_probs(temperature).astype(np.float64)
    ids = np.lexsort((np.arange(len(p)), -p))[:k]
    return ids, p[ids]


@pytest.fixture(scope="module")
def reference(hf_folder):
    return gptviz.load(str(hf_folder))


def test_next_token_every_bar_labelled_and_hover(qtbot, window, reference):
    nt = window.next_token
    window.editor.setPlainText("The cat sat on the mat and")
    nt.k.setValue(30)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: nt.result is not None and len(nt.result.top_ids) == 30
                    and nt.result.prompt.text == "The cat sat on the mat and")
    qtbot.wait(50)
    ids, probs = _reference_top(reference, "The cat sat on the mat and", 1.0, 30)
    np.testing.assert_array_equal(nt.result.top_ids, ids)
    # every one of the 30 bars has its token label on the axis, for the range and height on screen
    vb = nt.plot.getPlotItem().vb
    (_, _), (y0, y1) = vb.viewRange()
    values = nt.axis.tickValues(y0, y1, nt.axis.height())
    assert [v for _, vs in values for v in vs] == list(range(30))
    pieces = [reference.tokenizer.piece(int(i)).text for i in ids]
    assert nt.axis.tickStrings(range(30), 1, 1) == [t if len(t) <= 14 else t[:13] + "…" for t in pieces]
    assert vb.height() / 30 >= 14                   # rows tall enough for a line of text: the chart scrolls
    # the probability axis never runs past 1
    (x0, x1), _ = vb.viewRange()
    assert x0 == 0 and x1 <= 1.0
    # hovering bar 3 reads its rank, token, id, probability and log-probability
    hover(qtbot, nt.plot, vb.mapViewToScene(QPointF(probs[3] / 2, 3)))
    text = nt.caption.text()
    piece = reference.tokenizer.piece(int(ids[3])).text
    assert f"rank 4: “{piece}”" in text and f"id {ids[3]} " in text
    assert f"p {probs[3]:.4f}" in text and f"log p {np.log(probs[3]):.3f}" in text
    leave(nt.plot.viewport())
    assert "rank" not in nt.caption.text() and "top 30 hold" in nt.caption.text()
    nt.k.setValue(10)
    settle(qtbot, window)


def test_next_token_percentages_stay_inside_the_view(qtbot, window):
    nt = window.next_token
    window.editor.setPlainText("one two")
    nt.temperature.setValue(0.0)                     # greedy: one bar of probability 1
    settle(qtbot, window)
    qtbot.waitUntil(lambda: nt.result is not None and nt.result.view.temperature == 0.0)
    vb = nt.plot.getPlotItem().vb
    (x0, x1), _ = vb.viewRange()
    assert nt.result.top_probs[0] == 1.0 and x1 == 1.0
    t = nt.texts[0]
    assert t.toPlainText().startswith("100.0%")
    assert vb.mapSceneToView(t.mapRectToScene(t.boundingRect()).topRight()).x() <= 1.0 + 1e-6   # inside the bar
    nt.temperature.setValue(1.0)
    settle(qtbot, window)


@pytest.mark.parametrize("size", [(1000, 700), (800, 600)])
def test_generate_controls_fit_the_dock(qtbot, window, size):
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size)
    qtbot.wait(100)
    nt = window.next_token
    viewport = nt.parentWidget()                     # the dock's scroll area viewport
    for w in (nt.generate, nt.seed, nt.top_p, nt.sample_k, nt.n, nt.temperature, nt.k):
        r = QRect(w.mapTo(nt, QPoint(0, 0)), w.size())
        assert nt.rect().contains(r), (w, r, nt.rect())
        assert r.right() <= viewport.width(), (w, r, viewport.width())     # nothing cut off at the side
    window.resize(1600, 1000)


def test_logit_lens_writes_every_guess_and_explains_embed(qtbot, window, reference):
    lens = window.lens
    window.d_lens.raise_()
    text = "The cat sat on the mat"
    window.editor.setPlainText(text)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: lens.result is not None and lens.result.prompt.text == text)
    qtbot.wait(50)
    reference.clear_cache()
    tr = reference.trace(text)
    positions = np.arange(tr.T)
    ids, probs = tr.logit_lens(positions)                       # (L+1, P, 5)
    R, P = ids.shape[:2]
    np.testing.assert_allclose(lens.img.image, probs[:, :, 0].T, atol=1e-6)
    w, h = lens.cell_px()
    assert w >= 26 and h >= 13 and lens.labelled               # at 1600x1000 every cell is wide enough
    shown = [t for t in lens.texts[:R * P]]
    assert all(t.isVisible() for t in shown)
    fm = lens.metrics
    for n, t in enumerate(shown):
        r, c = divmod(n, P)
        guess = reference.tokenizer.piece(int(ids[r, c, 0])).text
        drawn = t.toPlainText()
        assert drawn == guess or (drawn.endswith("…") and guess.startswith(drawn[:-1])), (r, c, drawn, guess)
        assert fm.horizontalAdvance(drawn) <= w                # clipped to its cell
        assert (t.pos().x(), t.pos().y()) == (r + 0.5, c + 0.5)
    # the note explains the embedding row, with this prompt's count of self-predictions
    own = int((ids[0, :, 0] == tr.token_ids).sum())
    assert "read straight through the final norm and unembedding" in lens.rows_note.text()
    assert f"here {own} of {P} cells" in lens.rows_note.text()
    # hover a cell, then leave / change the prompt: the read-out clears
    hover(qtbot, lens.view, lens.plot.vb.mapViewToScene(QPointF(2.5, 1.5)))     # block 1, position 1
    assert lens.readout.text().startswith("#1 ␣cat, after block 1:")
    assert f"{probs[2, 1, 0]:.3f}" in lens.readout.text()
    leave(lens.view.viewport())
    assert lens.readout.text().startswith("Hover")
    hover(qtbot, lens.view, lens.plot.vb.mapViewToScene(QPointF(0.5, 0.5)))
    assert lens.readout.text().startswith("#0 The, embedding:")
    window.editor.setPlainText("A dog")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: lens.result.prompt.text == "A dog")
    assert lens.readout.text().startswith("Hover")
    window.d_norms.raise_()


def test_residual_colour_bars_and_shared_scale(qtbot, window, reference):
    res = window.residual
    window.d_residual.raise_()
    text = "The cat sat on the mat"
    window.editor.setPlainText(text)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: res.result is not None and res.result.prompt.text == text)
    reference.clear_cache()
    maps = dict(zip(("resid_norm", "attn_norm", "mlp_norm"), reference.trace(text).block_contributions()))
    assert not res.shared.isChecked()
    for key, a in maps.items():                       # each map on its own maximum, and its bar says so
        np.testing.assert_allclose(res.imgs[key].getLevels(), (0, a.max()), rtol=1e-5)
        np.testing.assert_allclose(res.bars[key].levels(), (0, a.max()), rtol=1e-5)
    res.shared.setChecked(True)
    common = max(a.max() for a in maps.values())
    for key in maps:
        np.testing.assert_allclose(res.imgs[key].getLevels(), (0, common), rtol=1e-5)
        np.testing.assert_allclose(res.bars[key].levels(), (0, common), rtol=1e-5)
    window.editor.setPlainText("The cat sat")         # a new frame keeps the chosen mode
    settle(qtbot, window)
    qtbot.waitUntil(lambda: res.result.prompt.text == "The cat sat")
    reference.clear_cache()
    small = reference.trace("The cat sat").block_contributions()
    np.testing.assert_allclose(res.imgs["mlp_norm"].getLevels(), (0, max(a.max() for a in small)), rtol=1e-5)
    res.shared.setChecked(False)
    np.testing.assert_allclose(res.imgs["mlp_norm"].getLevels(), (0, small[2].max()), rtol=1e-5)
    # hover, then leave: the read-out clears
    hover(qtbot, res.view, res.plots["mlp_norm"].vb.mapViewToScene(QPointF(1.5, 0.5)))
    assert res.readout.text() == f"‖MLP output‖, block 0, #1 ␣cat: {small[2][0, 1]:.3f}"
    leave(res.view.viewport())
    assert res.readout.text().startswith("Colour")
    window.d_norms.raise_()


def test_compare_counts_the_common_prefix(qtbot, window, reference):
    cmp_ = window.compare
    window.d_compare.raise_()
    a_text, b_text = "The cat sat on the mat and the dog", "The cat ran on the rug and the dog"
    cmp_.editor.setPlainText(b_text)
    window.editor.setPlainText(a_text)
    settle(qtbot, window)
    qtbot.waitUntil(lambda: cmp_.comparison is not None and cmp_.result.prompt.text == a_text
                    and cmp_.result.text_b == b_text)
    ia, ib = reference.tokenizer.encode(a_text), reference.tokenizer.encode(b_text)
    prefix = next(i for i, (x, y) in enumerate(zip(ia, ib)) if x != y)
    anywhere = sum(x == y for x, y in zip(ia, ib))
    assert prefix == 2 and anywhere > prefix                    # they agree again at later positions
    cap = cmp_.caption.text()
    assert f"The first {prefix} tokens agree" in cap and f"differ from #{prefix} on" in cap
    assert f"first {anywhere} tokens" not in cap
    # the rows of the shared prefix are the same in A and B (attention is causal)
    reference.clear_cache()
    layer, head = window.attention.layer, window.attention.head
    att_a = reference.trace(a_text).attention(layer)[head]
    reference.clear_cache()
    att_b = reference.trace(b_text).attention(layer)[head]
    np.testing.assert_allclose(att_a[:prefix], att_b[:prefix], atol=1e-6)
    # token labels at cell centres on every map
    pa = [reference.tokenizer.piece(i).text for i in ia]
    pb = [reference.tokenizer.piece(i).text for i in ib]
    for key, want in (("a", pa), ("b", pb), ("diff", [x if x == y else f"{x}|{y}" for x, y in zip(pa, pb)])):
        for axis in cmp_.axes[key]:
            assert axis.offset == 0.5
            assert axis.labels == [t if len(t) <= 6 else t[:5] + "…" for t in want]
    # hover a cell of A − B: query, key and the three values; leaving clears it
    d = att_a[:len(pb), :len(pb)] - att_b[:len(pa), :len(pa)]
    hover(qtbot, cmp_.view, cmp_.plots["diff"].vb.mapViewToScene(QPointF(1.5, 3.5)))
    assert cmp_.readout.text().startswith("query #3, key #1:") and f"A − B: {d[3, 1]:+.4f}" in cmp_.readout.text()
    leave(cmp_.view.viewport())
    assert cmp_.readout.text().startswith("Hover")
    cmp_.editor.setPlainText(a_text)                            # identical prompts
    settle(qtbot, window)
    qtbot.waitUntil(lambda: cmp_.result.text_b == a_text)
    assert f"The first {len(ia)} tokens agree (the prompts are the same)" in cmp_.caption.text()
    window.d_heads.raise_()


def test_sum_plot_never_offers_auto_range(qtbot, window):
    """The Σ p strip follows the heatmap's x range and takes no mouse input: pyqtgraph's "A" button, shown on
    hover once the range is not automatic, would do nothing useful there."""
    s = window.attention.sum_plot
    s.show()
    s.vb.disableAutoRange()                 # as after a zoom: the range is no longer automatic
    s.mouseHovering = True                  # what pyqtgraph sets on hover
    s.updateButtons()
    assert not s.autoBtn.isVisible()
