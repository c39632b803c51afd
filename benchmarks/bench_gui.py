"""Through the GUI (offscreen): keystroke-to-painted latency, the longest GUI-thread stall during a
1024-token recompute, and startup time. GPT-2-small shape, random weights saved by transformers.

    python benchmarks/bench_gui.py

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

    # startup: a fresh process to the first painted window on the built-in model
    code = ("import time; t0 = time.perf_counter()\n"
            "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'; sys.path.insert(0, %r)\n"
            "from PySide6.QtWidgets import QApplication\n"
            "from PySide6.QtCore import QSettings\n"
            "from gptviz.ui.app import configure_pyqtgraph\n"
            "from gptviz.ui.main_window import MainWindow\n"
            "app = QApplication([]); configure_pyqtgraph()\n"
            "win = MainWindow(settings=QSettings(%r, QSettings.IniFormat)); win.resize(1600, 1000); win.show()\n"
            "def shown(f):\n"
            "    win.repaint(); print(time.perf_counter() - t0); app.quit()\n"
            "win.frameShown.connect(shown); win.load(None); app.exec()\n") % (str(ROOT), tempfile.mktemp(suffix=".ini"))
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append((float(r.stdout.strip().splitlines()[-1]), time.perf_counter() - t))
    bare = statistics.median(
        [(lambda t: (subprocess.run([sys.executable, "-c", "pass"], check=True), time.perf_counter() - t)[1])(
            time.perf_counter()) for _ in range(3)])
    inproc = statistics.median(r[0] for r in runs)
    print(f"| startup: launch → first painted window on the built-in model | {(inproc + bare) * 1e3:.0f} ms | | "
          f"(interpreter start {bare * 1e3:.0f} ms + {inproc * 1e3:.0f} ms) |")


if __name__ == "__main__":
    main()
