"""Through the GUI (offscreen): keystroke-to-painted latency, the longest GUI-thread stall during a
1024-token recompute, and startup time. GPT-2-small shape, random weights saved by transformers. Then, on
the rotary long-context model of long_model.py: 2,048- and 8,192-token prompts pasted (first paint, the
longest stall while opening, scrolling the token strip and zooming the heatmap, memory beyond the weights).

    python benchmarks/bench_gui.py              # everything
    python benchmarks/bench_gui.py --startup    # only the start-up figures
    python benchmarks/bench_gui.py --json       # one {"name": ..., "ms": ...} per line (medians), no start-up
    python benchmarks/bench_gui.py --memory-8192   # only the 8,192-token memory (run in a fresh process by the others)

Latencies include the 100 ms typing debounce; each is also shown against transformers' plain forward
at the same length, measured in the same run.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as gptviz.ui sets it; torch is imported first here
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QTextCursor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from common import hf_model  # noqa: E402
from long_model import NAME as LONG_NAME, long_model  # noqa: E402
from gptviz.ui.app import configure_pyqtgraph  # noqa: E402
from gptviz.ui.main_window import MainWindow  # noqa: E402


def spin_until(app, cond, timeout=120.0):
    """Run the event loop until cond() holds. The loop sleeps until an event comes, as the app's own does (a
    10 ms timer bounds the wait): polling every 0.5 ms kept a core busy and slowed the worker's 2-thread
    torch kernels on a 2-core machine (first paint at 512 tokens 310-356 -> 281-302 ms, one profile run)."""
    wake = QTimer()
    wake.start(10)
    try:
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents(QEventLoop.AllEvents | QEventLoop.WaitForMoreEvents)
            if time.perf_counter() > end:
                raise TimeoutError
    finally:
        wake.stop()


def paint_now(app, *widgets) -> None:
    """Paint what the last results changed. A pyqtgraph scene tells its view what changed through a queued
    signal, so repaint() alone would draw the old picture and leave the real paint to a later event (in the
    layer-switch loop: inside the next switch's wait, 1 ms 'paint' against ~9 ms true)."""
    app.processEvents()
    for w in widgets:
        w.repaint()


def words_for(tok, n_tokens: int, rng) -> str:
    vocab = ["time", "little", "house", "river", "said", "happy", "green", "stone", "quiet", "over", "under",
             "bright", "window", "garden", "morning", "friend"]
    text = ""
    while len(tok.encode(text)) < n_tokens:
        text += " " + vocab[int(rng.integers(len(vocab)))]
    return text


def median_ms(xs) -> float:
    return statistics.median(xs) * 1e3


def floor(model, text: str, layer: int, reps: int = 7) -> tuple[float, float]:
    """The model's own work for one appended token, no GUI: the prefix-cached pass with the new position's
    logits (what transformers' forward with a cache returns), plus one layer's attention. Also returns the
    median of the logits alone (one row through the unembedding: the whole d x V matrix is read)."""
    times, head = [], []
    for i in range(reps):
        model.trace(text)                              # the cache holds the prompt, as after the last keystroke
        t = time.perf_counter()
        tr = model.trace(text + " x")
        t1 = time.perf_counter()
        tr.logits([tr.T - 1])
        t2 = time.perf_counter()
        tr.attention(layer)
        times.append(time.perf_counter() - t)
        head.append(t2 - t1)
    return median_ms(times), median_ms(head)


def new_window(path: str) -> tuple[QApplication, MainWindow]:
    """The app and its window at 1600 x 1000 with fresh settings, loading `path`."""
    app = QApplication([])
    configure_pyqtgraph()
    win = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.IniFormat))
    win.resize(1600, 1000)
    win.show()
    win.load(path)
    return app, win


def long_window() -> tuple[QApplication, MainWindow]:
    """A fresh app and window on the rotary long-context model, its default prompt computed."""
    app, win = new_window(str(long_model()))
    spin_until(app, lambda: win.info is not None and win.client.idle and not win.debouncer._timer.isActive()
               and win.current("tokens") is not None, timeout=600)
    return app, win


def main(as_json: bool = False) -> None:
    hf, folder = hf_model("gpt2")
    app, win = new_window(str(folder))
    spin_until(app, lambda: win.info is not None and win.current("tokens") is not None and win.client.idle)
    tok = win.client._worker.model.tokenizer
    rng = np.random.default_rng(0)
    out = {}

    def current(attr):
        r = win.current(attr)
        return r is not None and r.prompt.text == win.editor.toPlainText()

    def settled():
        return win.client.idle and not win.debouncer._timer.isActive() and current("tokens")

    text = words_for(tok, 512, rng)
    win.editor.setPlainText(text)
    spin_until(app, settled)
    first, every = [], []
    for i in range(7):
        win.editor.moveCursor(QTextCursor.End)         # type where a writer types: at the end
        t0 = time.perf_counter()
        win.editor.insertPlainText(" x")               # one keystroke's edit
        spin_until(app, lambda: all(current(a) for a in ("tokens", "next_token", "attention")))
        paint_now(app, win.tokens, win.next_token, win.attention)   # those three (the rest may still compute)
        first.append(time.perf_counter() - t0)
        spin_until(app, settled)
        paint_now(app, win)
        every.append(time.perf_counter() - t0)
    out["first_paint_512"], out["all_painted_512"] = median_ms(first), median_ms(every)
    layers = win.info.config.n_layer
    switches, paints, handed = [], [], []
    # the worker hands the pattern over (its thread, so DirectConnection): from there to painted is the paint
    mark = win.client._worker.viewReady.connect(lambda *a: handed.append(time.perf_counter()), Qt.DirectConnection)
    for i in range(7):                                 # a layer not seen for this prompt: computed, not memoised
        layer = (win.attention.layer + 1) % layers
        handed.clear()
        t0 = time.perf_counter()
        win.attention.select(layer, win.attention.head)
        spin_until(app, lambda: current("attention") and win.client.idle)
        paint_now(app, win.attention)                  # only the heatmap changes (the window drew it already)
        t1 = time.perf_counter()
        switches.append(t1 - t0)
        paints.append(t1 - handed[0])                  # shown, drawn, and the job's end told to the window
    win.client._worker.viewReady.disconnect(mark)
    out["layer_switch_512"] = median_ms(switches)
    out["layer_switch_paint_512"] = median_ms(paints)
    worker_model = win.client._worker.model
    other = worker_model.fork()                        # its own cache: the window's stays as it was
    out["floor_512"], out["unembed_512"] = floor(other, win.editor.toPlainText(), win.attention.layer)
    tr = other.trace(win.editor.toPlainText())
    att = []
    for _ in range(5):
        t = time.perf_counter()
        tr.attention(1)
        att.append(time.perf_counter() - t)
    out["attention_512"] = median_ms(att)
    kept, att = [], []                                 # as the app's memo does: each pattern kept, so fresh memory
    for layer in range(min(5, tr.n_layer)):
        t = time.perf_counter()
        kept.append(tr.attention(layer))
        att.append(time.perf_counter() - t)
    out["attention_512_kept"] = median_ms(att)
    del kept
    out["debounce"] = float(win.debouncer.delay_ms)

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
    paint_now(app, win)
    out["recompute_1024"] = (time.perf_counter() - t0) * 1e3
    spin_until(app, lambda: len(gaps) > 3 and time.perf_counter() - last[0] < 0.002, timeout=5)
    hb.stop()
    out["stall_1024"] = max(gaps) * 1e3
    long_prompts(app, win, out)
    win.close()
    mem = memory_fresh()
    if as_json:
        for name, ms in out.items():
            print(json.dumps({"name": name, "ms": round(ms, 1)}))
        for name, mb in mem.items():
            print(json.dumps({"name": name, "mb": round(mb, 1)}))
        return
    f, d = out["floor_512"], out["debounce"]
    print("| measurement (GPT-2-small shape) | ms | target |\n| --- | --- | --- |")
    print(f"| floor: append one token at 512 (its logits included: {out['unembed_512']:.0f}) + one layer's "
          f"attention, no GUI | {f:.0f} | |")
    print(f"| keystroke → tokens, next token, selected head painted (512) | {out['first_paint_512']:.0f} | "
          f"≤ {d + 1.5 * f:.0f} (debounce + 1.5 × floor) |")
    print(f"| keystroke → every visible panel painted (512) | {out['all_painted_512']:.0f} | "
          f"≤ {d + 2.5 * f:.0f} (debounce + 2.5 × floor) |")
    print(f"| layer switch → painted (512) | {out['layer_switch_512']:.0f} | "
          f"≤ 2 × one layer's attention + paint = {2 * out['attention_512'] + out['layer_switch_paint_512']:.0f} "
          f"(attention {out['attention_512']:.0f}, {out['attention_512_kept']:.0f} when each result is kept; paint: "
          f"handed over → painted {out['layer_switch_paint_512']:.0f}) |")
    print(f"| full recompute of 1024 tokens, edit → painted | {out['recompute_1024']:.0f} | |")
    print(f"| longest GUI-thread stall during it (5 ms heartbeat) | {out['stall_1024']:.0f} | ≤ 30 |")
    for n in (2048, 8192):
        print(f"| {LONG_NAME}: {n} tokens pasted → tokens, next token "
              f"and pooled heatmap painted | {out[f'first_paint_{n}']:.0f} | |")
        print(f"| longest GUI-thread stall opening it, scrolling the token strip and zooming the heatmap ({n}) | "
              f"{out[f'stall_{n}']:.0f} | ≤ 50 |")
    print(f"| memory beyond the weights with the 8192-token prompt shown | {mem['memory_8192']:.0f} MB "
          f"(peak {mem['peak_8192']:.0f} MB) | no T² × layers × heads |")
    startup()


def rss_mb(field: str = "VmRSS") -> float:
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith(field)).split()[1]) / 1024


class Heartbeat:
    """A 5 ms timer on the GUI thread: the longest gap between its beats is the longest stall."""

    def __init__(self, app):
        self.app, self.gaps, self.last = app, [], time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self.beat)
        self.timer.start()
        spin_until(app, lambda: len(self.gaps) > 5)
        self.gaps.clear()

    def beat(self):
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def stop(self) -> float:
        spin_until(self.app, lambda: len(self.gaps) > 3 and time.perf_counter() - self.last < 0.002, timeout=5)
        self.timer.stop()
        return max(self.gaps) * 1e3


def long_prompts(app, win, out) -> None:
    """On the rotary long-context model: paste 2,048 and 8,192 tokens; time to first paint; the longest
    stall while opening, scrolling the token strip and zooming the heatmap in."""
    win.editor.setPlainText("")
    win.load(str(long_model()))
    spin_until(app, lambda: win.info is not None and win.info.config.family == "llama" and win.client.idle
               and not win.debouncer._timer.isActive())
    tok = win.client._worker.model.tokenizer
    rng = np.random.default_rng(1)

    def current(attr):
        r = win.current(attr)
        return r is not None and r.prompt.text == win.editor.toPlainText()
    for n in (2048, 8192):
        text = words_for(tok, n, rng)
        hb = Heartbeat(app)
        t0 = time.perf_counter()
        win.editor.setPlainText(text)
        spin_until(app, lambda: all(current(a) for a in ("tokens", "next_token", "attention")), timeout=600)
        paint_now(app, win)
        out[f"first_paint_{n}"] = (time.perf_counter() - t0) * 1e3
        spin_until(app, lambda: win.client.idle and current("tokens"), timeout=600)
        bar = win.tokens.scroll.verticalScrollBar()
        # the window repaints what changed, as for a user (a whole-window repaint() would be the benchmark's stall)
        for i in range(40):                                     # scroll the strip top to bottom
            bar.setValue(bar.maximum() * i // 39)
            app.processEvents()
        vb = win.attention.plot.vb
        for i in range(6):                                      # wheel in towards the middle, a step at a time
            vb.scaleBy((0.5, 0.5), center=(n / 2, n / 2))
            spin_until(app, lambda: not win.attention._zoom_timer.isActive() and win.client.idle, timeout=600)
        assert win.attention.zoom is not None and win.attention.zoom.exact, "zoomed in: exact cells shown"
        out[f"stall_{n}"] = hb.stop()


def memory_8192() -> None:
    """In this fresh process: the window on the long-context model with a short prompt shown, then 8,192
    tokens pasted and every visible panel drawn. Prints the RSS growth and its peak (MB), i.e. the memory
    the long prompt holds beyond the weights and the window. In a process that showed other prompts first
    the heap reuses their freed blocks and the growth reads near zero, hence a process of its own."""
    app, win = long_window()
    tok = win.client._worker.model.tokenizer
    text = words_for(tok, 8192, np.random.default_rng(1))
    win.editor.setPlainText(text[:60])
    spin_until(app, lambda: win.client.idle and not win.debouncer._timer.isActive(), timeout=600)
    win.repaint()
    base, _ = rss_mb(), reset_peak()
    win.editor.setPlainText(text)
    spin_until(app, lambda: win.client.idle and not win.debouncer._timer.isActive()
               and all((r := win.current(a)) is not None and r.prompt.text == text
                       for a in ("tokens", "next_token", "attention")), timeout=600)
    paint_now(app, win)
    print(json.dumps({"memory_8192": rss_mb() - base, "peak_8192": rss_mb("VmHWM") - base}))
    win.close()


def memory_fresh() -> dict:
    r = subprocess.run([sys.executable, __file__, "--memory-8192"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def reset_peak() -> None:
    """Let VmHWM restart from the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


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
def shown():
    if 'panels' not in marks and all(win.current(a) is not None for a in ('tokens', 'next_token', 'attention', 'norms',
                                                                          'heads')):
        win.repaint()
        marks['panels'] = time.perf_counter() - t0     # every visible panel holds the first prompt's views
def idle():
    if win.client.idle and win.info.geometry and 'panels' in marks:
        marks['idle'] = time.perf_counter() - t0        # the embedding geometry too (hidden tab, markers)
        print(marks['painted'], marks['panels'], marks['idle']); app.quit()
win.resultShown.connect(lambda r: shown()); win.allShown.connect(idle); win.show(); win.load(None); app.exec()
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
    args = sys.argv[1:]
    if "-h" in args or "--help" in args or set(args) - {"--startup", "--json", "--memory-8192"}:
        print(__doc__.strip())
        sys.exit(0 if "-h" in args or "--help" in args else 2)
    if args == ["--memory-8192"]:
        memory_8192()
    else:
        startup() if args == ["--startup"] else main(as_json="--json" in args)
