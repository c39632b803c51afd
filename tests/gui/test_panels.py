"""The window shows exactly what a fresh trace of the final text computes (pytest-qt, offscreen)."""
import numpy as np
import pytest
from PySide6.QtCore import Qt

import gptviz
from gptviz.analysis.probabilities import top_k
from tests.gui.conftest import settle


@pytest.fixture(scope="module")
def reference(hf_folder):
    return gptviz.load(str(hf_folder))


def _assert_matches_fresh_trace(win, reference, text):
    reference.clear_cache()
    tr = reference.trace(text, prepend_bos=win.bos_action.isChecked())
    f = win.next_token.result
    # tokens panel
    assert [(p.id, p.text) for p in win.tokens.chips.pieces] == [(t.id, t.text) for t in tr.tokens]
    assert f"{tr.T}</b> tokens" in win.tokens.summary.text()
    # norms panel: the plotted curves
    for key in ("token_embedding_norm", "position_embedding_norm", "input_norm"):
        x, y = win.norms.curves[key].getData()
        np.testing.assert_allclose(y, getattr(tr, key), rtol=1e-5)
        np.testing.assert_array_equal(x, np.arange(tr.T))
    # attention panel: the image on screen is the selected head of the selected layer
    layer, head = win.attention.layer, win.attention.head
    np.testing.assert_allclose(win.attention.img.values, tr.attention(layer)[head], atol=1e-5)
    # next-token panel: the bars are the top-k of the softmax at the chosen temperature
    ids, probs = top_k(tr.next_token_probs(win.next_token.temperature.value()), win.next_token.k.value())
    assert [i for i in f.top_ids] == list(ids)
    np.testing.assert_allclose(win.next_token.bars.opts["width"], probs, atol=1e-6)
    assert [t for t, _ in win.next_token.rows()] == [reference.tokenizer.piece(int(i)).text for i in ids]


def test_typing_updates_all_panels(qtbot, window, reference):
    window.editor.clear()
    qtbot.keyClicks(window.editor, "The cat sat on the mat. The cat")
    settle(qtbot, window)
    _assert_matches_fresh_trace(window, reference, "The cat sat on the mat. The cat")


def test_layer_head_selection_and_temperature(qtbot, window, reference):
    window.editor.setPlainText("Colourless green ideas sleep furiously")
    settle(qtbot, window)
    window.heads.headClicked.emit(1, 2)          # as a click on the thumbnail does
    qtbot.waitUntil(lambda: window.current("attention") is not None and window.current("attention").layer == 1 and window.client.idle, timeout=30000)
    assert (window.attention.layer, window.attention.head) == (1, 2)
    window.next_token.temperature.setValue(0.5)
    window.next_token.k.setValue(7)
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.current("next_token").view.temperature == 0.5
                    and window.current("next_token").view.top_k == 7
                    and window.client.idle, timeout=30000)
    _assert_matches_fresh_trace(window, reference, "Colourless green ideas sleep furiously")
    # keyboard stepping: right arrow moves to the next head, down to the next layer (clamped)
    qtbot.keyClick(window.attention, Qt.Key_Right)
    assert window.attention.head == 3
    qtbot.keyClick(window.attention, Qt.Key_Up)
    assert window.attention.layer == 0
    qtbot.waitUntil(lambda: window.current("attention") is not None and window.current("attention").layer == 0 and window.client.idle, timeout=30000)
    _assert_matches_fresh_trace(window, reference, "Colourless green ideas sleep furiously")


def test_prepend_bos_option(qtbot, window, reference):
    window.editor.setPlainText("Hello")
    settle(qtbot, window)
    window.bos_action.setChecked(True)
    qtbot.waitUntil(lambda: window.current("tokens") is not None and window.current("tokens").prompt.prepend_bos and window.client.idle, timeout=30000)
    assert window.tokens.chips.pieces[0].id == 50256
    _assert_matches_fresh_trace(window, reference, "Hello")


def test_hover_readouts(qtbot, window):
    window.editor.setPlainText("one two three four")
    settle(qtbot, window)
    a = window.attention
    m = a.selected_matrix()
    assert a.describe_cell(3, 1).endswith(f"{m[3, 1]:.4f}")
    assert "masked" in a.describe_cell(1, 3)
    assert "‖tok‖" in window.norms.values_at(2)
    window.tokens.chips.tokenClicked.emit(2)      # clicking a token highlights its query row
    assert a.query == 2 and a.row_box.isVisible()


def test_truncation_notice(qtbot, window):
    text = " ".join(f"w{i}" for i in range(80))       # > 64 tokens, the model's context
    window.editor.setPlainText(text)
    settle(qtbot, window)
    assert window.tokens.result.truncated
    assert window.tokens.notice.isVisible() and "longer than the context window" in window.tokens.notice.text()
    assert "64 / 64" in window.tokens.summary.text()


def test_empty_prompt(qtbot, window):
    window.editor.setPlainText("")
    settle(qtbot, window, "")
    assert window.tokens.result.T == 0 and window.tokens.chips.pieces == []
    assert "Type a prompt" in window.next_token.caption.text()


def test_logit_lens_panel(qtbot, window, reference):
    window.d_lens.raise_()
    window.editor.setPlainText("The cat sat on the mat")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("lens") is not None and window.client.idle, timeout=30000)
    f = window.current("lens")
    reference.clear_cache()
    tr = reference.trace("The cat sat on the mat")
    ids, probs = tr.logit_lens(f.positions)
    np.testing.assert_array_equal(f.ids, ids)
    np.testing.assert_allclose(window.lens.img.image, probs[:, :, 0].T, atol=1e-6)   # positions down, layers across
    assert window.lens.describe_cell(0, 0).startswith("#0 The, embedding:")
    window.d_norms.raise_()


def test_geometry_panel(qtbot, window, hf_folder):
    from safetensors.numpy import load_file
    w = load_file(str(hf_folder / "model.safetensors"))
    wpe = w["transformer.wpe.weight"]
    g = window.geometry.geometry
    np.testing.assert_allclose(window.geometry.curve.getOriginalDataset()[1], np.linalg.norm(wpe, axis=1), rtol=1e-5)
    u = wpe / np.linalg.norm(wpe, axis=1, keepdims=True)
    np.testing.assert_allclose(window.geometry.img.image, u @ u.T, atol=1e-5)
    assert g["sinusoid_norm"] == np.sqrt(32 / 2)
    assert "√d_model" in window.geometry.caption.text()


def test_multi_select_sums_attention_and_lock(qtbot, window, reference):
    window.editor.setPlainText("one two three four five")
    settle(qtbot, window)
    for q in (1, 3, 4):
        window.tokens.chips.tokenToggled.emit(q)
    assert window.attention.selection == [1, 3, 4] and window.tokens.chips.marked == {1, 3, 4}
    reference.clear_cache()
    a = reference.trace("one two three four five").attention(window.attention.layer)[window.attention.head]
    np.testing.assert_allclose(window.attention.summed_attention(), a[[1, 3, 4]].sum(0), atol=1e-5)
    np.testing.assert_allclose(window.attention.sum_bars.opts["height"], a[[1, 3, 4]].sum(0), atol=1e-5)
    assert window.attention.sum_plot.isVisible()
    window.tokens.chips.tokenToggled.emit(3)                 # toggling again removes it
    assert window.attention.selection == [1, 4]
    window.editor.setPlainText("one two three four five six")  # unlocked: an edit clears the selection
    settle(qtbot, window)
    assert window.attention.selection == []
    window.attention.lock.setChecked(True)
    window.tokens.chips.tokenToggled.emit(2)
    window.editor.setPlainText("one two three four five six seven")
    settle(qtbot, window)
    assert window.attention.selection == [2]                 # locked: kept across edits
    window.attention.lock.setChecked(False)


def test_residual_panel(qtbot, window, reference):
    window.d_residual.raise_()
    window.editor.setPlainText("The cat sat on the mat")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("residual") is not None and window.client.idle, timeout=30000)
    reference.clear_cache()
    r, a, m = reference.trace("The cat sat on the mat").block_contributions()
    np.testing.assert_allclose(window.residual.imgs["resid_norm"].image, r, rtol=1e-5)
    np.testing.assert_allclose(window.residual.imgs["mlp_norm"].image, m, rtol=1e-4, atol=1e-5)
    window.d_norms.raise_()


def test_architecture_panel(qtbot, window, reference):
    window.d_arch.raise_()
    window.editor.setPlainText("one two three")
    settle(qtbot, window)
    a = window.architecture
    assert a.box_keys()[0] == "wte" and "unembed" in a.box_keys()
    assert f"{reference.config.n_params():,} learned parameters" in a.caption.text()
    assert any("4 × 3 × 3" in b.shape for b in a.boxes)          # H x T x T for the current prompt
    a.boxClicked.emit("attn")
    assert not window.d_heads.visibleRegion().isEmpty()
    a.boxClicked.emit("mlp")
    assert not window.d_residual.visibleRegion().isEmpty()
    window.d_norms.raise_()


def test_compare_prompts(qtbot, window, reference):
    window.d_compare.raise_()
    window.compare.editor.setPlainText("The dog sat on the rug")
    window.editor.setPlainText("The cat sat on the mat")
    settle(qtbot, window)
    qtbot.waitUntil(lambda: window.current("compare") is not None and window.client.idle, timeout=30000)
    reference.clear_cache()
    head, layer = window.attention.head, window.attention.layer
    a = reference.trace("The cat sat on the mat")
    pa, att_a = a.next_token_probs(), a.attention(layer)[head]
    reference.clear_cache()
    b = reference.trace("The dog sat on the rug")
    pb, att_b = b.next_token_probs(), b.attention(layer)[head]
    n = min(len(att_a), len(att_b))
    np.testing.assert_allclose(window.compare.diff, att_a[:n, :n] - att_b[:n, :n], atol=1e-5)
    c = window.current("compare")
    np.testing.assert_allclose(c.probs_a, pa[c.top_ids], atol=1e-6)
    np.testing.assert_allclose(c.probs_b, pb[c.top_ids], atol=1e-6)
    assert set(top_k(pa, 10)[0]) | set(top_k(pb, 10)[0]) == set(c.top_ids)
    assert window.compare.table.rowCount() == len(c.top_ids)
    window.d_heads.raise_()
