"""Benchmark (not a test) of an activation patching sweep the way the GUI runs it: the Activation patching
panel's PatchRunner sends the sweep to the worker thread of a WorkerClient on GPT-2-small's shape (12 layers,
12 heads, d 768, random weights saved by transformers), prompts A and B of 64 tokens that differ in one word.

1. a full sweep (residual stream, (L+1) x T runs, and every head, L x H runs) to the end: time, how many
   progress signals reached the GUI thread and their largest gap;
2. the cancel latency as the GUI sees it, several times at different points of a sweep: from the GUI thread
   setting the flag (the Cancel button's slot) to the cancelled result arriving on the GUI thread.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_patching_gui.py [--tokens 64] [--cancels 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = "the cat sat on the mat and the dog ran to the park while a bird sang in the tall green tree".split()


def prompts(tok, n: int) -> tuple[str, str]:
    """A of exactly n tokens and B with one word of A's swapped (the same token count)."""
    words = []
    while len(tok.encode(" ".join(words))) < n:
        words.append(WORDS[len(words) % len(WORDS)])
    while len(tok.encode(" ".join(words))) > n:
        words.pop()
    a = " ".join(words)
    i = len(words) // 3
    b = " ".join(words[:i] + ["fox" if words[i] != "fox" else "owl"] + words[i + 1:])
    assert len(tok.encode(a)) == len(tok.encode(b)) == n, "could not build prompts of equal length"
    return a, b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--cancels", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import torch
    from PySide6.QtWidgets import QApplication
    from transformers import GPT2Config, GPT2LMHeadModel
    from gptviz.core.tokenizer import gpt2_tokenizer
    from gptviz.ui.patch_runner import PatchRunner
    from gptviz.ui.worker import WorkerClient
    from gptviz.views.base import Prompt
    app = QApplication.instance() or QApplication([])

    def wait(cond, limit=3600.0):
        t0 = time.perf_counter()
        while not cond():
            app.processEvents()
            time.sleep(0.0005)
            if time.perf_counter() - t0 > limit:
                raise SystemExit("timed out")

    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        GPT2LMHeadModel(GPT2Config()).save_pretrained(d)
        client = WorkerClient("cpu")
        loaded = []
        client.modelLoaded.connect(loaded.append)
        client.load(d)
        wait(lambda: loaded)
    runner = PatchRunner(client)
    a, b = prompts(gpt2_tokenizer(), args.tokens)
    ticks, done = [], []
    runner.progressed.connect(lambda job, k, n: ticks.append((time.perf_counter(), k, n)))
    runner.finished.connect(lambda out: done.append((time.perf_counter(), out)))

    def sweep():
        job = runner.job(Prompt(a), b, " mat", " park")
        t = time.perf_counter()
        runner.run(job)
        return job, t

    job, t0 = sweep()
    wait(lambda: done)
    t_end, out = done.pop()
    assert out.result is not None and not out.result.cancelled, out.error
    times = [t for t, _, _ in ticks]
    gaps = [y - x for x, y in zip(times, times[1:])]
    full = dict(tokens=args.tokens, runs=out.result.total, sweep_s=t_end - t0, progress_signals=len(ticks),
                last_progress=list(ticks[-1][1:]), progress_gap_max_s=max(gaps) if gaps else 0.0)
    lat, at = [], []
    for i in range(args.cancels):
        ticks.clear()
        job, t = sweep()
        goal = (i + 1) * full["runs"] // (args.cancels + 2)          # cancel at different points of the sweep
        wait(lambda: ticks and ticks[-1][1] >= goal)
        t_cancel = time.perf_counter()
        runner.cancel()                                             # what the Cancel button does
        wait(lambda: done)
        t_got, out = done.pop()
        assert out.result.cancelled and out.result.done < out.result.total
        lat.append(t_got - t_cancel)
        at.append(out.result.done)
    res = dict(full=full, cancel_latency_s=lat, cancel_latency_max_s=max(lat), cancelled_after_runs=at,
               threads=torch.get_num_threads())
    client.shutdown()
    if args.json:
        print(json.dumps(res))
        return
    print(f"GPT-2-small shape, {res['threads']} threads, GUI path (PatchRunner -> worker thread -> GUI thread)")
    print(f"full sweep at {full['tokens']} tokens: {full['runs']} runs (residual + heads) in {full['sweep_s']:.2f} s, "
          f"{full['progress_signals']} progress signals, largest gap {full['progress_gap_max_s'] * 1000:.0f} ms, "
          f"last {full['last_progress'][0]}/{full['last_progress'][1]}")
    print(f"cancel latency over {len(lat)} cancels: max {max(lat) * 1000:.1f} ms "
          f"({', '.join(f'{x * 1000:.1f}' for x in lat)} ms; after {at} runs)")


if __name__ == "__main__":
    main()
