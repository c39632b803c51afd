"""Trace speed vs transformers' own forward, same machine, same run (median of alternating runs).

    python benchmarks/bench_trace.py [--reps N]

Prints a Markdown table: gptviz time, transformers time, ratio, target.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gptviz  # noqa: E402
from common import alternate, hf_model, row  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    torch.manual_seed(0)
    hf, folder = hf_model("gpt2")
    m = gptviz.load(str(folder), device="cpu")
    L = m.config.n_layer
    rng = np.random.default_rng(0)
    ids64 = rng.integers(0, 50000, 64).tolist()
    ids512 = rng.integers(0, 50000, 512).tolist()
    word = [int(rng.integers(0, 50000))]
    edited = list(ids512)
    edited[256] = (edited[256] + 1) % 50000

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; GPT-2-small shape "
          f"({m.n_params / 1e6:.0f}M params), random weights saved by transformers\n")
    print("| measurement | gptviz | transformers | ratio | target |\n| --- | --- | --- | --- | --- |")

    def ours_full64():
        m.clear_cache()
        tr = m.trace_ids(ids64)
        for layer in range(L):
            tr.attention(layer)
        tr.next_token_probs()

    def hf_full(ids, attentions):
        def f():
            with torch.no_grad():
                out = hf(torch.tensor([ids]), output_attentions=attentions)
                torch.softmax(out.logits[0, -1], -1)
        return f

    t = alternate({"ours": ours_full64, "hf": hf_full(ids64, True)}, a.reps)
    print(row("full trace, 64 tokens (all attention + next-token probs)", t["ours"], t["hf"], "≤ 0.8×"))

    def ours_after(prefix, new):
        def setup():
            m.clear_cache()
            m.trace_ids(prefix)            # the state before the keystroke
        def f():
            tr = m.trace_ids(new)
            tr.next_token_probs()
        return setup, f

    setup, f = ours_after(ids512, ids512 + word)
    t_ours = alternate({"ours": f}, a.reps, setup=setup)["ours"]
    t_hf = alternate({"hf": hf_full(ids512, False)}, a.reps)["hf"]
    print(row("append one token to a 512-token prompt (vs full forward at 512)", t_ours, t_hf, "≤ 0.1×"))

    setup, f = ours_after(ids512, edited)
    t_edit = alternate({"ours": f}, a.reps, setup=setup)["ours"]
    print(row("edit one token at position 256 of 512 (recomputes 256 = 50%)", t_edit, t_hf, "≈ suffix share"))
    m.clear_cache()
    tr = m.trace_ids(ids512)
    t_lazy = alternate({"ours": lambda: tr.attention(L // 2)}, a.reps)["ours"]
    print(f"\none layer's attention (12 × 512 × 512) computed on demand from the cached keys: {t_lazy * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
