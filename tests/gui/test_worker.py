"""Worker behaviour: newest request wins, failures are reported and survived, loading, closing."""
import subprocess
import sys

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

import gptviz
from gptviz.views import NextToken
from tests.conftest import ROOT
from tests.gui.conftest import settle


def test_fifty_quick_edits(qtbot, window, hf_folder):
    outstanding = []
    real_submit = window.client.submit

    def spy(*args):
        out = real_submit(*args)
        c = window.client
        outstanding.append((c.running is not None) + (c.pending is not None))
        return out
    window.client.submit = spy
    sent_before = window.client.sent
    text = ""
    for i in range(50):
        text += f"w{i} "
        window.editor.setPlainText(text)
        window.submit()                 # bypass the debouncer too: the worker must still cope
    settle(qtbot, window, text)
    assert max(outstanding) <= 2        # one running + one pending at most
    assert window.client.sent - sent_before < 50
    ref = gptviz.load(str(hf_folder)).trace(text)
    assert [p.id for p in window.tokens.chips.pieces] == list(ref.token_ids)
    np.testing.assert_allclose(window.attention.img.values, ref.attention(window.attention.layer)[0], atol=1e-5)


def test_broken_file_keeps_previous_model(qtbot, window, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    info = window.info
    with qtbot.waitSignal(window.client.loadFailed, timeout=30000):
        window.load(str(bad))
    box = window.findChild(QMessageBox, "loadError")
    assert box is not None and box.isVisible()
    assert "incomplete or corrupt" in box.text() and "previous model is still loaded" in box.text()
    box.close()
    assert window.info is info
    window.editor.setPlainText("still working")
    settle(qtbot, window)
    from gptviz.core.tokenizer import gpt2_tokenizer
    assert list(window.tokens.result.token_ids) == gpt2_tokenizer().encode("still working")


def test_worker_exception_reported_and_next_request_works(qtbot, window, monkeypatch):
    real = NextToken.compute
    calls = {"n": 0}

    def flaky(self, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected failure")
        return real(self, ctx)
    monkeypatch.setattr(NextToken, "compute", flaky)
    window.editor.setPlainText("first")
    qtbot.waitUntil(lambda: window.error_banner.isVisible(), timeout=30000)
    assert "injected failure" in window.error_banner.text()
    window.editor.setPlainText("second try")
    settle(qtbot, window)
    assert not window.error_banner.isVisible()


def test_drop_and_recent_files(qtbot, window, hf_folder, tmp_path):
    assert window.recent_files()[0].startswith(str(hf_folder))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(hf_folder))])
    ev = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.client.modelLoaded, timeout=30000):
        window.dropEvent(ev)
    assert window.recent_menu.actions()[0].text().startswith(str(hf_folder))


def test_close_while_computing_exits_cleanly(tmp_path, hf_folder):
    """A separate process: close the window right after a long request starts; no Qt thread warning."""
    code = f"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, {str(ROOT)!r})
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from gptviz.ui.main_window import MainWindow
app = QApplication([])
win = MainWindow(settings=QSettings({str(tmp_path / 's.ini')!r}, QSettings.IniFormat))
win.show()
def loaded(info):
    win.editor.setPlainText("word " * 60)
    win.submit()
    QTimer.singleShot(0, win.close)
    QTimer.singleShot(50, app.quit)
win.client.modelLoaded.connect(loaded)
win.load({str(hf_folder)!r})
app.exec()
print("clean exit", win.client._thread.isFinished())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "clean exit True" in r.stdout
    assert "QThread" not in r.stderr and "Destroyed" not in r.stderr


def test_screenshot_cli(tmp_path, hf_folder):
    out = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "gptviz", str(hf_folder), "--prompt", "Hello there", "--screenshot",
                        str(out)], capture_output=True, text=True, timeout=180, cwd=ROOT,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1600, 1000)


def test_screenshot_cli_bad_checkpoint(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gptviz", str(tmp_path / "nope.pt"), "--screenshot",
                        str(tmp_path / "x.png")], capture_output=True, text=True, timeout=180, cwd=ROOT,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error:")
    assert not (tmp_path / "x.png").exists()


def test_layer_switch_makes_no_model_pass_and_switching_back_computes_nothing(qtbot, window, hf_folder):
    from gptviz.views import Attention
    text = "one two three four five"
    window.editor.setPlainText(text)
    settle(qtbot, window)
    model = window.client._worker.model
    passes, jobs = [], []
    real_trace, real_send = model.trace, window.client.scheduler.send
    model.trace = lambda *a, **k: (passes.append(a), real_trace(*a, **k))[1]   # called in the worker thread
    window.client.scheduler.send = lambda job: (jobs.append(job), real_send(job))
    ref = gptviz.load(str(hf_folder)).trace(text)
    a = window.attention
    a.select(1, 0)                                   # another layer: one layer's pattern, no model pass
    qtbot.waitUntil(lambda: window.current("attention") is not None and window.client.idle, timeout=30000)
    assert passes == [] and [j.views for j in jobs] == [(Attention(1),)]
    np.testing.assert_allclose(a.img.values, ref.attention(1)[0], atol=1e-5)
    a.select(0, 0)                                   # back: answered from the memo at once, nothing sent
    assert len(jobs) == 1 and window.client.idle and window.current("attention").layer == 0
    np.testing.assert_allclose(a.img.values, ref.attention(0)[0], atol=1e-5)
    a.select(0, 3)                                   # another head of the same layer: nothing to compute
    assert len(jobs) == 1 and passes == []
    np.testing.assert_allclose(a.img.values, ref.attention(0)[3], atol=1e-5)
    window.next_token.temperature.setValue(0.5)      # a new temperature: the next-token view only
    qtbot.waitUntil(lambda: window.current("next_token") is not None and window.client.idle, timeout=30000)
    assert passes == [] and [v.name for v in jobs[-1].views] == ["NextToken"]
    window.next_token.temperature.setValue(1.0)
