"""Through the GUI (offscreen): keystroke-to-painted latency, the longest GUI-thread stall during a
1024-token recompute, and startup time. GPT-2-small shape, random weights saved by transformers.

    python benchmarks/bench_gui.py              # everything
    python benchmarks/bench_gui.py --startup    # only the start-up figures

Latencies include the 100 ms typing debounce; each is also shown against transformers' plain forward
at the same length, measured in the same run.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from common import alternate, hf_model  # noqa: E402
from gptviz.ui.app import configure_pyqtgraph  # noqa: E402
from gptviz.ui.main_window import MainWindow  # noqa: E402


def spin_until(app, cond, timeout=120.0):
    end = time.perf_counter() + timeout
    while not cond():
        app.processEvents()
        if time.perf_counter() > end:
            raise TimeoutError
        time.sleep(0.0005)


def words_for(tok, n_tokens: int, rng) -> str:
    vocab = ["time", "little", "house", "river", "said", "happy", "green", "stone", "quiet", "over", "under",
             "bright", "window", "garden", "morning", "friend"]
    text = ""
    while len(tok.encode(text)) < n_tokens:
        text += " " + vocab[int(rng.integers(len(vocab)))]
    return text


def main() -> None:
    app = QApplication([])
    configure_pyqtgraph()
    hf, folder = hf_model("gpt2")
    win = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.IniFormat))
    win.resize(1600, 1000)
    win.show()
    win.load(str(folder))
    spin_until(app, lambda: win.info is not None and win.frame is not None and win.client.idle)
    tok = win.client._worker.builder.model.tokenizer
    rng = np.random.default_rng(0)

    def settled():
        return (win.client.idle and not win.debouncer._timer.isActive() and win.frame is not None
                and win.frame.request.text == win.editor.toPlainText())

    print("| measurement | gptviz | transformers forward, same length | ratio |\n| --- | --- | --- | --- |")
    for n in (64, 512):
        win.editor.setPlainText(words_for(tok, n, rng))
        spin_until(app, settled)
        times = []
        for i in range(7):
            win.editor.moveCursor(QTextCursor.End)     # type where a writer types: at the end
            t0 = time.perf_counter()
            win.editor.insertPlainText(" x")           # one keystroke's edit
            spin_until(app, settled)
            win.repaint()                              # painted
            times.append(time.perf_counter() - t0)
        ids = tok.encode(win.editor.toPlainText())

        def hf_fwd():
            with torch.no_grad():
                hf(torch.tensor([ids]))
        ref = alternate({"hf": hf_fwd}, 5)["hf"]
        lat = statistics.median(times)
        print(f"| keystroke → painted, {len(ids)}-token prompt (incl. 100 ms debounce) | {lat * 1e3:.0f} ms | "
              f"{ref * 1e3:.0f} ms | {lat / ref:.2f}× |")

    # longest GUI-thread stall while a 1024-token prompt is recomputed from its first token
    text = words_for(tok, 1024, rng)
    win.editor.setPlainText(text)
    spin_until(app, settled)
    gaps, last = [], [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
    hb = QTimer()
    hb.setInterval(5)
    hb.timeout.connect(beat)
    hb.start()
    spin_until(app, lambda: len(gaps) > 5)
    gaps.clear()
    t0 = time.perf_counter()
    win.editor.setPlainText("Edited" + text[6:])    # first token changes: everything recomputes
    spin_until(app, settled)
    win.repaint()
    total = time.perf_counter() - t0
    spin_until(app, lambda: len(gaps) > 3 and time.perf_counter() - last[0] < 0.002, timeout=5)
    hb.stop()
    ids = tok.encode(win.editor.toPlainText())[-1024:]

    def hf_fwd():
        with torch.no_grad():
            hf(torch.tensor([ids]))
    ref = alternate({"hf": hf_fwd}, 3)["hf"]
    print(f"| full recompute of 1024 tokens, edit → painted | {total * 1e3:.0f} ms | {ref * 1e3:.0f} ms | "
          f"{total / ref:.2f}× |")
    print(f"| longest GUI-thread stall during it (5 ms heartbeat) | {max(gaps) * 1e3:.0f} ms | | target ≤ 50 ms |")
    win.close()

    startup()


STARTUP = """
import time; t0 = time.perf_counter()
import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'; sys.path.insert(0, ROOT)
from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtWidgets import QApplication
from gptviz.ui.app import configure_pyqtgraph
from gptviz.ui.main_window import MainWindow
app = QApplication([]); configure_pyqtgraph()
win = MainWindow(settings=QSettings(INI, QSettings.IniFormat)); win.resize(1600, 1000)
marks = {}
class Painted(QObject):
    def eventFilter(self, obj, e):
        if e.type() == QEvent.Paint and 'painted' not in marks:
            marks['painted'] = time.perf_counter() - t0
        return False
f = Painted(); win.installEventFilter(f)
def shown(frame):
    win.repaint()
    marks.setdefault('panels', time.perf_counter() - t0)     # every visible panel holds the first frame
    if win.client.idle:
        marks['idle'] = time.perf_counter() - t0            # the embedding geometry too (hidden tab, markers)
        print(marks['painted'], marks['panels'], marks['idle']); app.quit()
win.frameShown.connect(shown); win.show(); win.load(None); app.exec()
"""


def startup(runs: int = 3) -> None:
    """A fresh process per run, on the built-in model: launch to the first painted (empty) window, to every
    visible panel drawn from the first frame, and to the worker being idle (geometry computed)."""
    code = f"ROOT = {str(ROOT)!r}\nINI = {tempfile.mktemp(suffix='.ini')!r}\n" + STARTUP
    marks = []
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        marks.append([float(x) for x in r.stdout.strip().splitlines()[-1].split()])
    bare = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    b = statistics.median(bare)
    for i, what in enumerate(("first painted window", "every visible panel filled",
                              "worker idle (embedding geometry computed too)")):
        m = statistics.median(x[i] for x in marks)
        print(f"| startup: launch → {what}, built-in model | {(m + b) * 1e3:.0f} ms | | "
              f"(interpreter start {b * 1e3:.0f} ms + {m * 1e3:.0f} ms; median of {runs}) |")


if __name__ == "__main__":
    startup() if sys.argv[1:] == ["--startup"] else main()
