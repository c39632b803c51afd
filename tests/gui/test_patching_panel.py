"""The Activation patching panel: its maps hold what transformers computes with forward hooks putting B's
residual stream (or one head's output) into A's run, and what gptviz.core.patching computes on a fresh
load; progress reaches the total; Cancel and a new prompt stop a sweep between two runs and the window
goes on working; prompts of different token counts, an empty B and a multi-token metric are refused by
name; on a post-LN model (OPT-350m's order) logit attribution refuses and patching works."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

import gptviz
import gptviz.core.patching as core_patching
from gptviz.core.patching import patch_sweep
from tests.gui.conftest import settle
from tests.unit import test_patching as ref

A = "The cat sat on the mat"
B = "The dog sat on the mat"
TOL = 1e-4


def _panel(qtbot, window, a=A, b=B, token=" the", minus=" a"):
    window.d_patching.show()
    window.d_patching.raise_()
    p = window.patching
    p.b_editor.setPlainText(b)
    p.token.setText(token)
    p.minus.setText(minus)
    window.editor.setPlainText(a)
    settle(qtbot, window, a)
    return p


def _run(qtbot, p, timeout=60000):
    with qtbot.waitSignal(p.runner.finished, timeout=timeout) as sig:
        qtbot.mouseClick(p.run_button, Qt.LeftButton)
    return sig.args[0]


def _ids(text):
    from gptviz.core.tokenizer import gpt2_tokenizer
    return np.array(gpt2_tokenizer().encode(text), np.int64)


def test_sweep_equals_transformers_hooks_and_core(qtbot, window, hf_model, hf_folder):
    p = _panel(qtbot, window)
    assert window.compare.editor.toPlainText() == B              # one prompt B for both panels
    ticks = []
    p.runner.progressed.connect(lambda job, done, total: ticks.append((done, total)))
    out = _run(qtbot, p)
    r = p.result
    a, b = _ids(A), _ids(B)
    tok, minus = _ids(" the")[0], _ids(" a")[0]
    assert (out.token.id, out.minus.id) == (tok, minus) and not r.cancelled
    L, H, T = hf_model.config.n_layer, hf_model.config.n_head, len(a)
    assert r.resid.shape == (L + 1, T) and r.heads.shape == (L, H) and r.done == r.total == (L + 1) * T + L * H
    assert ticks[-1] == (r.total, r.total) and p.bar.isHidden()
    with torch.no_grad():
        la, lb = (hf_model(torch.from_numpy(x)[None]).logits for x in (a, b))
    assert abs(r.base - ref._metric(la, tok, minus)) < TOL and abs(r.source - ref._metric(lb, tok, minus)) < TOL
    assert abs(r.resid[0, 1] - r.base) > 1e-3 and np.nanmax(np.abs(r.heads - r.base)) > 1e-3   # patches matter
    for layer, pos in [(0, 1), (1, 1), (1, 4), (0, 0)]:
        want = ref.hf_resid_patch(hf_model, "gpt2", a, b, layer, pos, tok, minus)
        assert abs(r.resid[layer, pos] - want) < TOL, (layer, pos)
    for layer, h in [(0, 1), (1, 2)]:
        assert abs(r.heads[layer, h] - ref.hf_head_patch(hf_model, "gpt2", a, b, layer, h, tok, minus)) < TOL
    fresh = patch_sweep(gptviz.load(str(hf_folder)), a, b, tok, minus)
    np.testing.assert_allclose(r.resid, fresh.resid, atol=1e-5)
    np.testing.assert_allclose(r.heads, fresh.heads, atol=1e-5)
    # the maps show the normalised metric: 0 = as A, 1 = as B
    gap = fresh.source - fresh.base
    np.testing.assert_allclose(p.rimg.image, (fresh.resid - fresh.base) / gap, atol=1e-4)
    np.testing.assert_allclose(p.himg.image, (fresh.heads - fresh.base) / gap, atol=1e-4)
    assert abs(p.rimg.image[L, T - 1] - 1) < 1e-4 and abs(p.rimg.image[0, 0]) < 1e-4   # B's output; same token
    lo, hi = p.cbar.levels()
    assert lo == -hi and hi >= 1                                  # diverging, white at 0
    assert p.rx.labels[:T] == [t.text for t in r.tokens] and p.ry.labels[-1] == "final"
    cap = p.caption.text()
    assert f"base (A) {fresh.base:.4f}" in cap and f"source (B) {fresh.source:.4f}" in cap and "0 = as A" in cap
    assert p.describe_cell("resid", 0, 1).startswith("residual entering block 0, position 1")
    assert f"{r.resid[0, 1]:.4f}" in p.describe_cell("resid", 0, 1)
    # defaults: A's most likely next token minus B's
    p.token.setText("")
    p.minus.setText("")
    out = _run(qtbot, p)
    top_a, top_b = int(la[0, -1].argmax()), int(lb[0, -1].argmax())
    assert out.token.id == top_a and (out.minus is None if top_a == top_b else out.minus.id == top_b)


def _gate(monkeypatch, after: int):
    """Hold the sweep inside its run number after+1 until released (so the test clicks while it runs)."""
    real, calls = core_patching._resid_run, []
    reached, release = threading.Event(), threading.Event()

    def held(*args):
        calls.append(1)
        if len(calls) == after + 1:
            reached.set()
            release.wait(60)
        return real(*args)
    monkeypatch.setattr(core_patching, "_resid_run", held)
    return reached, release


def test_cancel_stops_the_sweep_and_the_window_goes_on(qtbot, window, monkeypatch):
    p = _panel(qtbot, window)
    reached, release = _gate(monkeypatch, 3)
    with qtbot.waitSignal(p.runner.finished, timeout=60000) as sig:
        qtbot.mouseClick(p.run_button, Qt.LeftButton)
        qtbot.waitUntil(reached.is_set, timeout=60000)
        assert p.cancel_button.isVisible() and p.bar.isVisible()
        qtbot.mouseClick(p.cancel_button, Qt.LeftButton)
        release.set()
    r = sig.args[0].result
    # the run under way (the 4th) stops at its first block check: 3 runs done, no more
    assert r.cancelled and r.done == 3 < r.total
    assert np.isfinite(r.resid[0, :3]).all() and np.isnan(r.resid[0, 3:]).all() and np.isnan(r.heads).all()
    assert p.result is r and "Cancelled after 3 of" in p.message.text() and p.bar.isHidden()
    assert "not run" in p.describe_cell("resid", 1, 0)
    assert p.runner.lookup(p._new_job()) is None                  # a cancelled sweep is never memoised
    monkeypatch.undo()
    window.editor.setPlainText(A + " again")
    settle(qtbot, window)
    p.b_editor.setPlainText(B + " again")
    out = _run(qtbot, p)
    assert not out.result.cancelled and out.result.done == out.result.total


def test_new_prompt_cancels_and_results_are_keyed(qtbot, window, monkeypatch):
    p = _panel(qtbot, window)
    first = _run(qtbot, p)
    assert p.runner.lookup(p._new_job()) is first                 # complete: memoised under its inputs
    reached, release = _gate(monkeypatch, 2)
    p.minus.setText(" on")                                        # another metric: a new sweep
    assert p.runner.lookup(p._new_job()) is None
    with qtbot.waitSignal(p.runner.finished, timeout=60000) as sig:
        qtbot.mouseClick(p.run_button, Qt.LeftButton)
        qtbot.waitUntil(reached.is_set, timeout=60000)
        window.editor.setPlainText(A + ".")                       # typing in A cancels it
        release.set()
    assert sig.args[0].result.cancelled and sig.args[0].result.done == 2   # the held 3rd run stops at a block check
    settle(qtbot, window)
    window.editor.setPlainText(A)
    p.minus.setText(" a")                                         # back to the first inputs: shown from the memo
    assert p.outcome is first and "press Run" not in p.message.text()
    window.ablations.add_head(0, 1, "zero")                       # the ablation set is part of the key
    assert p.runner.lookup(p._new_job()) is None
    window.ablations.clear()
    settle(qtbot, window)


def test_refusals_name_the_problem(qtbot, window):
    p = _panel(qtbot, window, b="The dog sat")
    out = _run(qtbot, p)
    assert out.result is None and p.result is None
    assert f"A has {len(_ids(A))} tokens, B has {len(_ids('The dog sat'))}" in p.message.text()
    p.b_editor.setPlainText("")
    qtbot.mouseClick(p.run_button, Qt.LeftButton)                 # refused at once, nothing sent
    assert "prompt B is empty" in p.message.text() and p.runner.running is None
    p.b_editor.setPlainText(B)
    p.token.setText(" Mary and")
    _run(qtbot, p)
    assert "“ Mary and” is 2 tokens" in p.message.text()
    p.token.setText("[50257]")
    _run(qtbot, p)
    assert "token id 50257 is out of range" in p.message.text()
    p.token.setText(" the")
    out = _run(qtbot, p)                                          # still works after the refusals
    assert out.result is not None and not out.result.cancelled


@pytest.fixture(scope="module")
def opt_post_ln(tmp_path_factory):
    from tests.gui.family_models import family_folder
    return family_folder("opt", tmp_path_factory.mktemp("opt") / "opt", do_layer_norm_before=False)


def test_post_ln_attribution_refuses_and_patching_runs(qtbot, opt_post_ln, tmp_path, monkeypatch):
    import transformers
    from tests.gui.family_models import open_window
    m = gptviz.load(str(opt_post_ln))
    words = [w for w in (" you", " me", " all", " the", " and", " stop") if len(m.tokenizer.encode(w)) == 1]
    text_a, text_b = "First Citizen:" + words[0], "First Citizen:" + words[1]      # one word apart
    win = open_window(qtbot, opt_post_ln, tmp_path)
    win.d_attribution.show()
    win.d_attribution.raise_()
    win.editor.setPlainText(text_a)
    settle(qtbot, win, text_a)
    qtbot.waitUntil(lambda: win.current("attribution") is not None and win.client.idle, timeout=60000)
    assert "No decomposition" in win.attribution.caption.text() and "post-LN" in win.attribution.caption.text()
    a, b = np.array(m.tokenizer.encode(text_a)), np.array(m.tokenizer.encode(text_b))
    assert len(a) == len(b) and (a != b).any()
    p = _panel(qtbot, win, text_a, text_b, token="[5]", minus="[7]")
    r = _run(qtbot, p).result
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(opt_post_ln), attn_implementation="eager").eval()
    monkeypatch.setitem(ref.HF, "opt", ("model.decoder.layers.{}", "model.decoder.layers.{}.self_attn.out_proj"))
    diff = int(np.flatnonzero(a != b)[0])
    assert abs(r.resid[0, diff] - r.base) > 1e-3
    for layer, pos in [(0, diff), (1, diff)]:
        assert abs(r.resid[layer, pos] - ref.hf_resid_patch(hf, "opt", a, b, layer, pos, 5, 7)) < TOL
    assert abs(r.heads[1, 1] - ref.hf_head_patch(hf, "opt", a, b, 1, 1, 5, 7)) < TOL
    win.close()
