"""The in-app training timeline: a folder of snapshots from a tiny `gptviz train --snapshot-every` run opens the
Timeline dock; its slider swaps the worker's model (checked against a fresh gptviz.load of that snapshot and
numpy's log-softmax of its logits), queued swaps load only the newest, a corrupt snapshot keeps the previous
model, and clicking a plot jumps to that step; a Hugging Face cache entry with step revisions opens the same way."""
import shutil
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QMessageBox

import gptviz
from gptviz.checkpoints.snapshots import find_snapshots
from gptviz.timeline import score_model
from gptviz.training.config import TrainConfig
from gptviz.training.train import train
from gptviz.ui.timeline_dock import NO_REPEAT
from gptviz.ui.timeline_worker import TimelineWorker
from tests.gui.conftest import settle
from tests.gui.family_models import open_window
from tests.gui.test_hf_cache import COMMITS, PYTHIA, _logits, cache  # noqa: F401 (cache: a fixture)

STEPS, EVERY = 40, 10                      # snapshots at steps 0, 10, 20, 30, 40
REPEATS = "the cat sat on the mat. the cat sat on the mat."
NO_REPEATS = "one two three four five"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("timeline_run")
    data = d / "text.txt"
    words = "the cat sat on the mat and the dog ran to the park while a bird sang in the tall tree".split()
    rng = np.random.default_rng(0)
    data.write_text(" ".join(rng.choice(words, 3000)), encoding="utf-8")
    argv = ["--data", str(data), "--out", str(d / "tiny.safetensors"), "--n-layer", "2", "--n-head", "2",
            "--n-embd", "32", "--block-size", "32", "--batch-size", "4", "--steps", str(STEPS),
            "--eval-interval", "20", "--eval-windows", "2", "--warmup", "2", "--lr", "1e-2", "--dropout", "0",
            "--seed", "1", "--bf16", "off", "--threads", "1", "--snapshot-every", str(EVERY), "--compact-vocab", "on"]
    train(TrainConfig.from_argv(argv))
    return d / "tiny.snapshots"


@pytest.fixture
def folder(run_folder, tmp_path):
    """A copy per test: a test may corrupt a snapshot."""
    return shutil.copytree(run_folder, tmp_path / "run")


def _paths(folder):
    return [str(s.path) for s in find_snapshots(folder)]


def _open(qtbot, win, folder, prompt=REPEATS):
    win.editor.setPlainText(prompt)
    with qtbot.waitSignal(win.timeline.found, timeout=60000):
        win.load(str(folder))
    qtbot.waitUntil(lambda: win.timeline_dock.done and win.info is not None and win.in_timeline(win.info.source),
                    timeout=60000)
    settle(qtbot, win)


def _swap(qtbot, win, index):
    win.timeline_dock.slider.setValue(index)
    qtbot.waitUntil(lambda: win.timeline.owns(win.info.source) == index, timeout=60000)   # HF: a file inside
    settle(qtbot, win)


def _log_softmax(z):
    z = z.astype(np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def test_plain_model_folder_has_no_timeline(window):
    assert window.d_timeline.isHidden() and not window.timeline_open   # the fixture opened an HF folder


def test_slider_swaps_the_model_and_the_plots_hold_each_snapshots_scores(qtbot, window, folder, hf_folder):
    paths = _paths(folder)
    assert len(paths) == STEPS // EVERY + 1
    window.attention.select(1, 1)
    _open(qtbot, window, folder)
    dock = window.timeline_dock
    assert not window.d_timeline.isHidden()
    assert (dock.slider.minimum(), dock.slider.maximum(), dock.slider.tickInterval()) == (0, len(paths) - 1, 1)
    assert window.info.source == paths[-1] and dock.slider.value() == len(paths) - 1     # the newest first
    assert window.recent_files()[0] == str(folder)                # the folder is the recent entry, not a step

    _swap(qtbot, window, 1)
    assert window.editor.toPlainText() == REPEATS and (window.attention.layer, window.attention.head) == (1, 1)
    ref = gptviz.load(paths[1]).trace(REPEATS)
    p = ref.next_token_probs()
    shown = window.next_token.result
    np.testing.assert_array_equal(shown.top_ids, np.argsort(-p, kind="stable")[:len(shown.top_ids)])
    np.testing.assert_allclose(shown.top_probs, p[shown.top_ids], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(window.attention.img.values, ref.attention(1)[1], atol=1e-5)
    assert dock.markers[0].value() == 1 and "step 10" in dock.step_label.text()

    # every curve point against the snapshot loaded afresh; the loss also against numpy's log-softmax
    curves = dock.curves()
    for i, path in enumerate(paths):
        m = gptviz.load(path)
        s = score_model(m, REPEATS)
        tr = m.trace(REPEATS)
        ids = np.asarray(tr.token_ids)
        loss = -_log_softmax(tr.logits())[np.arange(len(ids) - 1), ids[1:]].mean()
        assert curves["loss"][i] == pytest.approx(loss, abs=1e-4)
        assert curves["best_prev"][i] == pytest.approx(s.prev.max(), abs=1e-6)
        assert curves["best_induction"][i] == pytest.approx(s.induction.max(), abs=1e-6)
        assert curves["head_prev"][i] == pytest.approx(s.prev[1, 1], abs=1e-6)
        assert curves["head_induction"][i] == pytest.approx(s.induction[1, 1], abs=1e-6)
    x, y = dock.loss_curve.getData()                              # what is drawn is what curves() says
    np.testing.assert_array_equal(x, np.arange(len(paths)))
    np.testing.assert_allclose(y, curves["loss"])

    # a prompt that repeats no token: rescored (debounced), induction left out and said why
    window.editor.setPlainText(NO_REPEATS)
    qtbot.waitUntil(lambda: dock.done and dock.scores[0] is not None and dock.scores[0].n_tokens == 5,
                    timeout=60000)
    curves = dock.curves()
    assert np.isnan(curves["best_induction"]).all() and NO_REPEAT in dock.note.text()
    s = score_model(gptviz.load(paths[3]), NO_REPEATS)
    assert curves["best_prev"][3] == pytest.approx(s.prev.max(), abs=1e-6)
    assert window.info.source == paths[1]                        # rescoring does not swap the model

    with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):   # a plain model closes the timeline
        window.load(str(hf_folder))
    assert window.d_timeline.isHidden() and not window.timeline_open
    qtbot.waitUntil(lambda: not window.timeline.tw.cache.models, timeout=10000)


def test_queued_swaps_load_only_the_newest(qtbot, window, folder, monkeypatch):
    paths = _paths(folder)
    _open(qtbot, window, folder)
    gate, armed, opened = threading.Event(), threading.Event(), []
    real = TimelineWorker._open

    def slow_open(self, path):
        if armed.is_set():
            opened.append(path)
            gate.wait(30)                 # the first swap is still loading while the others queue up
        return real(self, path)
    monkeypatch.setattr(TimelineWorker, "_open", slow_open)
    armed.set()
    loads_before = list(window.timeline.tw.loads)
    window.timeline_dock.slider.setValue(0)
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=30000)     # the worker is loading step 0
    for i in (1, 2, 3):
        window.timeline_dock.slider.setValue(i)
    assert window.timeline_dock.slider.value() == 3
    gate.set()
    qtbot.waitUntil(lambda: window.info.source == paths[3] and window.client.idle, timeout=60000)
    assert opened == [paths[0], paths[3]]
    assert window.timeline.tw.loads[len(loads_before):] == [paths[0], paths[3]]
    assert window.timeline_dock.slider.value() == 3 and window.timeline_dock.current == 3
    settle(qtbot, window)
    np.testing.assert_allclose(window.next_token.result.top_probs[0],
                               gptviz.load(paths[3]).trace(REPEATS).next_token_probs().max(), rtol=1e-5)
    before = len(window.timeline.tw.loads)
    _swap(qtbot, window, 0)                                       # still in the cache: nothing read from disk
    assert len(window.timeline.tw.loads) == before


def test_corrupt_snapshot_keeps_the_previous_model(qtbot, window, folder):
    paths = _paths(folder)
    _open(qtbot, window, folder)
    with open(paths[1], "r+b") as f:           # damaged after the folder was read: its header is garbage now
        f.write(b"\xff" * 64)
    with qtbot.waitSignal(window.timeline.swapFailed, timeout=60000):
        window.timeline_dock.slider.setValue(1)
    dock = window.timeline_dock
    assert window.info.source == paths[-1] and dock.slider.value() == len(paths) - 1
    assert "Could not load step 10" in dock.note.text() and "Still showing step 40" in dock.note.text()
    assert not dock.note.isHidden()
    box = window.findChild(QMessageBox, "loadError")
    assert box is None or not box.isVisible()
    window.editor.setPlainText("the dog ran")                    # the app goes on with the previous model
    settle(qtbot, window)
    p = gptviz.load(paths[-1]).trace("the dog ran").next_token_probs()
    assert window.next_token.result.top_probs[0] == pytest.approx(p.max(), rel=1e-5)


def test_clicking_a_plot_jumps_to_that_step(qtbot, window, folder):
    paths = _paths(folder)
    _open(qtbot, window, folder)
    dock = window.timeline_dock
    vb = dock.score_plot.vb
    scene_pos = vb.mapViewToScene(QPointF(2.1, 0.5))
    pos = dock.view.mapFromScene(scene_pos)
    qtbot.mouseClick(dock.view.viewport(), Qt.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: window.info.source == paths[2], timeout=60000)
    assert dock.slider.value() == 2 and dock.markers[1].value() == 2


def test_hf_cache_step_revisions_open_as_a_timeline(qtbot, cache, monkeypatch, tmp_path):
    """Pythia-style refs step1000/step2000 in the HF cache: picking one in the dialog opens the entry's timeline."""
    from PySide6.QtWidgets import QDialog
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    entry = cache / "models--EleutherAI--pythia-tiny"
    win = open_window(qtbot, cache / "models--someone--tiny-llama" / "snapshots" / ("d" * 40), tmp_path)

    def exec_(dlg):
        dlg.table.selectRow([dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())].index(PYTHIA))
        dlg.revision.setCurrentIndex([dlg.revision.itemText(i).split()[0]
                                      for i in range(dlg.revision.count())].index("step1000"))
        return QDialog.Accepted
    monkeypatch.setattr("gptviz.ui.window_files.HFCacheDialog.exec", exec_)
    win.editor.setPlainText("Speak, speak.")
    with qtbot.waitSignal(win.timeline.found, timeout=60000):
        win.open_from_hf_cache()
    qtbot.waitUntil(lambda: win.timeline_dock.done and win.in_timeline(win.info.source), timeout=60000)
    dock = win.timeline_dock
    assert [s.step for s in win.timeline.snaps] == [1000, 2000] and dock.slider.maximum() == 1
    assert dock.slider.value() == 0 and "step 1,000" in dock.step_label.text()   # the revision picked
    _swap(qtbot, win, 1)
    tr = win.client._worker.ctx.trace
    np.testing.assert_allclose(tr.logits(), _logits(entry / "snapshots" / COMMITS["step2000"], tr.token_ids),
                               atol=1e-4)
    for i, name in enumerate(("step1000", "step2000")):
        logp = _log_softmax(_logits(entry / "snapshots" / COMMITS[name], tr.token_ids))
        ids = np.asarray(tr.token_ids)
        assert dock.curves()["loss"][i] == pytest.approx(-logp[np.arange(len(ids) - 1), ids[1:]].mean(), abs=1e-4)


def test_one_token_prompt_says_why_there_are_no_scores(qtbot, window, folder):
    _open(qtbot, window, folder, prompt="the")
    dock = window.timeline_dock
    assert all(s is None for s in dock.scores) and "a timeline needs at least 2" in dock.note.text()
    assert not window.timeline.scoring
    window.editor.setPlainText(REPEATS)                           # a longer prompt: scored, the message gone
    qtbot.waitUntil(lambda: dock.done and all(s is not None for s in dock.scores), timeout=60000)
    assert "at least 2" not in dock.note.text()


def test_hidden_dock_draws_nothing_on_head_changes_and_shows_the_last_head_when_opened(qtbot, window, folder,
                                                                                      monkeypatch):
    dock = window.timeline_dock
    assert window.d_timeline.isHidden()
    redraws = []
    real = type(dock).redraw
    monkeypatch.setattr(type(dock), "redraw", lambda self: (redraws.append(self.head), real(self)))
    window.attention.select(1, 0)                 # hidden: a layer/head switch costs the dock nothing
    window.attention.select(0, 1)
    assert redraws == [] and dock.head == (0, 1)
    _open(qtbot, window, folder)                  # shown: its legend names the head selected meanwhile
    assert redraws and "L0.H1 prev" in dock.score_plot.titleLabel.text
    window.attention.select(1, 1)                 # visible: redrawn at once
    assert redraws[-1] == (1, 1) and "L1.H1 induction" in dock.score_plot.titleLabel.text
