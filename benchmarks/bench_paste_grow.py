"""The longest GUI-thread stall when a long prompt is pasted into the editor of a freshly opened window, on
the rotary long-context model of long_model.py. bench_gui.py pastes its long prompts into an editor already
grown to its 8 lines; here the 3-line editor grows with the paste, so every dock below it moves and the
window is relaid out and repainted.

    python benchmarks/bench_paste_grow.py      # {"name": "stall_grow_2048", "ms": ...} and the same for 8192
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from bench_gui import Heartbeat, long_window, spin_until, words_for


def one(n: int) -> None:
    """In this fresh process: the window on the long model with its short default prompt, then n tokens pasted."""
    app, win = long_window()
    text = words_for(win.client._worker.model.tokenizer, n, np.random.default_rng(1))
    before = win.editor.height()
    hb = Heartbeat(app)
    win.editor.setPlainText(text)
    spin_until(app, lambda: win.client.idle and not win.debouncer._timer.isActive(), timeout=600)
    stall = hb.stop()
    print(json.dumps({"name": f"stall_grow_{n}", "ms": round(stall, 1), "editor_px": [before, win.editor.height()]}))
    win.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(int(sys.argv[2]))
    else:
        for n in (2048, 8192):
            subprocess.run([sys.executable, __file__, "--one", str(n)], check=True)
