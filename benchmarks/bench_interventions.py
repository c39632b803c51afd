"""Benchmark (not a test) of interventions on GPT-2-small's shape (12 layers, 12 heads, d 768, random weights
saved by transformers): 

1. ablating one head at 512 tokens, with the clean prompt already traced: the ablated trace reruns only the
   blocks from the head's layer on (every position), so it should cost about what rerunning those blocks costs;
   both as ratios to a full pass, in the same run;
2. a full residual patching sweep ((L+1) x T runs) at 64 tokens: time, progress, and the cancel latency (from
   setting the flag to the sweep returning), measured several times.

    .venv/bin/python benchmarks/bench_interventions.py [--tokens 512] [--patch-tokens 64] [--json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _gpt2_small(folder: Path):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder)
    import gptviz
    return gptviz.load(str(folder))


def _median(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.no_grad()
def bench_ablation(m, T: int, repeats: int) -> dict:
    ids = np.random.default_rng(0).integers(0, 50257, T)
    L = m.config.n_layer

    def full():
        m.clear_cache()
        m.trace_ids(ids)
    t_full = _median(full, repeats)
    m.trace_ids(ids)                                      # the clean prompt is traced (the app's state)
    tr = m.trace_ids(ids)
    idx = torch.from_numpy(ids.copy())[None]
    rows = {}
    for layer in (0, L // 2, L - 1):
        def ablate():
            m._ablated = None                             # a new ablation set: nothing of it is cached
            m.trace_ids(ids, ablate=[(layer, 3)])

        def from_layer():                                 # the same blocks, no ablation, nothing recorded
            m.model(idx, logits="none", keep=lambda n: False, start=layer, resid=tr._resid[layer][None])
        t_ab, t_from = _median(ablate, repeats), _median(from_layer, repeats)
        assert m.last_start_layer == layer
        rows[layer] = dict(ablate_s=t_ab, from_layer_s=t_from, ablate_over_full=t_ab / t_full,
                           from_layer_over_full=t_from / t_full, blocks_share=(L - layer) / L,
                           ablate_over_from_layer=t_ab / t_from)
    # typing one more token with the ablation on (zero mode): the ablated prefix is reused too
    m.trace_ids(ids[:-1], ablate=[(L // 2, 3)])
    t_append = _median(lambda: (m.trace_ids(ids[:-1], ablate=[(L // 2, 3)]),
                                m.trace_ids(ids, ablate=[(L // 2, 3)])), repeats)
    return dict(tokens=T, full_pass_s=t_full, by_layer=rows, ablated_append_one_token_s=t_append / 2)


def bench_patching(m, T: int, cancels: int) -> dict:
    from gptviz.core.patching import patch_sweep
    rng = np.random.default_rng(1)
    a = rng.integers(0, 50257, T)
    b = a.copy()
    b[T // 3] = (b[T // 3] + 1) % 50257
    ticks = []
    t = time.perf_counter()
    r = patch_sweep(m, a, b, 11, 13, heads=False, progress=lambda d, n: ticks.append(time.perf_counter()))
    total = time.perf_counter() - t
    setup = ticks[0] - t                                  # A's and B's traces, then the first run
    gaps = np.diff(ticks)                                 # (runs-1,) one run each
    lat = []
    for i in range(cancels):
        stop = threading.Event()
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("r", patch_sweep(
            m, a, b, 11, 13, heads=False, cancelled=stop.is_set)))
        th.start()
        time.sleep(0.5 + 0.37 * i)                        # land at different points of a run
        t0 = time.perf_counter()
        stop.set()
        th.join()
        lat.append(time.perf_counter() - t0)
        assert out["r"].cancelled
    return dict(tokens=T, runs=r.total, done=r.done, progress_calls=len(ticks), sweep_s=total, setup_s=setup,
                run_mean_s=float(gaps.mean()), run_max_s=float(gaps.max()),
                cancel_latency_s=lat, cancel_latency_max_s=max(lat))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--patch-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cancels", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        m = _gpt2_small(Path(d))
    res = dict(ablation=bench_ablation(m, a.tokens, a.repeats), patching=bench_patching(m, a.patch_tokens, a.cancels),
               threads=torch.get_num_threads())
    if a.json:
        print(json.dumps(res))
        return
    ab, pa = res["ablation"], res["patching"]
    print(f"GPT-2-small shape, {res['threads']} threads; full trace at {ab['tokens']} tokens: {ab['full_pass_s']:.3f} s")
    for layer, r in ab["by_layer"].items():
        print(f"  ablate head {layer}.3: {r['ablate_s']:.3f} s = {r['ablate_over_full']:.2f} x full; rerunning blocks "
              f"{layer}.. alone {r['from_layer_s']:.3f} s = {r['from_layer_over_full']:.2f} x full "
              f"(share of blocks {r['blocks_share']:.2f}); ablate / rerun {r['ablate_over_from_layer']:.2f}")
    print(f"  one more token with an ablation on: {ab['ablated_append_one_token_s'] * 1000:.1f} ms")
    print(f"residual patching sweep at {pa['tokens']} tokens: {pa['runs']} runs in {pa['sweep_s']:.2f} s "
          f"(traces + first run {pa['setup_s']:.2f} s, run mean {pa['run_mean_s'] * 1000:.1f} ms, max {pa['run_max_s'] * 1000:.1f} ms), "
          f"{pa['progress_calls']} progress calls")
    print(f"  cancel latency over {len(pa['cancel_latency_s'])} cancels: max {pa['cancel_latency_max_s'] * 1000:.1f} ms "
          f"({', '.join(f'{x * 1000:.1f}' for x in pa['cancel_latency_s'])} ms)")


if __name__ == "__main__":
    main()
