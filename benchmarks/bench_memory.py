"""Peak memory of a 1024-token trace on a GPT-2-medium-shaped model, beyond the weights.

    python benchmarks/bench_memory.py

Each side runs in a fresh process: build the model, reset the kernel's peak-RSS counter
(/proc/self/clear_refs), run, and read VmHWM. gptviz: trace + next-token probabilities + every
layer's attention pattern, one layer at a time (what the attention panels ask for).
transformers: GPT2LMHeadModel(..., output_attentions=True), eager attention. Linux only.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, sys, torch
sys.path.insert(0, ROOT)
torch.manual_seed(0)
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
def reset_peak():
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
ids = torch.randint(0, 50000, (1024,))
if KIND == "gptviz":
    from gptviz.core.config import GPTConfig
    from gptviz.core.model import GPT
    from gptviz.core.session import LoadedModel
    from gptviz.core.tokenizer import gpt2_tokenizer
    from gptviz.checkpoints.loaded import Checkpoint
    cfg = GPTConfig(n_layer=24, n_head=16, n_embd=1024, block_size=1024)
    g = GPT(cfg); g.init_weights(0)
    sd = {k: v for k, v in g.state_dict().items() if k != "lm_head.weight"}
    m = LoadedModel(Checkpoint(cfg, sd, gpt2_tokenizer(), "medium", "bench", "bench"))
    del g, sd
    reset_peak(); base = rss("VmRSS")
    tr = m.trace_ids(ids.numpy())
    tr.next_token_probs()
    for layer in range(cfg.n_layer):
        tr.attention(layer)
else:
    from transformers import GPT2Config, GPT2LMHeadModel
    hf = GPT2LMHeadModel(GPT2Config(n_layer=24, n_head=16, n_embd=1024, n_positions=1024,
                                    attn_implementation="eager")).eval()
    reset_peak(); base = rss("VmRSS")
    with torch.no_grad():
        out = hf(ids[None], output_attentions=True)
        torch.softmax(out.logits[0, -1], -1)
print((rss("VmHWM") - base) / 2**20)
"""


def measure(kind: str) -> float:
    code = f"ROOT = {str(ROOT)!r}\nKIND = {kind!r}\n" + CHILD
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ours, ref = measure("gptviz"), measure("transformers")
    print("| measurement | gptviz | transformers | ratio | target |\n| --- | --- | --- | --- | --- |")
    print(f"| peak memory beyond the weights, 1024-token trace, GPT-2-medium shape | {ours:.0f} MiB | {ref:.0f} MiB | "
          f"{ours / ref:.3f}× | ≤ 512 MiB |")
    eager = 24 * 16 * 1024 * 1024 * 4 / 2**20
    print(f"\n(all layers' attention patterns held at once in fp32 would be {eager:.0f} MiB)")


if __name__ == "__main__":
    main()
