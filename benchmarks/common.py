"""Shared helpers for the benchmarks: GPT-2-shaped random models and alternating median timings."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

SHAPES = {"gpt2": dict(n_layer=12, n_head=12, n_embd=768), "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024)}


def hf_model(shape: str = "gpt2", seed: int = 0):
    """Random weights in a GPT-2 shape, saved by transformers; returns (hf model, folder)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(seed)
    cfg = GPT2Config(**SHAPES[shape], n_positions=1024, vocab_size=50257, attn_implementation="eager")
    model = GPT2LMHeadModel(cfg).eval()
    folder = Path(tempfile.mkdtemp(prefix=f"gptviz-bench-{shape}-"))
    model.save_pretrained(folder)
    return model, folder


def alternate(fns: dict, reps: int = 7, setup=None) -> dict[str, float]:
    """Median seconds of each function, run alternately so machine noise hits all alike."""
    times = {k: [] for k in fns}
    for fn in fns.values():          # warm-up
        if setup:
            setup()
        fn()
    for _ in range(reps):
        for k, fn in fns.items():
            if setup:
                setup()
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def row(name: str, ours: float, ref: float, target: str = "") -> str:
    return f"| {name} | {ours * 1e3:.1f} ms | {ref * 1e3:.1f} ms | {ours / ref:.3f}× | {target} |"


# Prepended to the code of the memory benchmarks' child processes: RSS fields of /proc/self/status in
# bytes, and a reset of the peak (VmHWM) to the current RSS.
PROC_MEMORY = '''import gc
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
def reset_peak():
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
'''
