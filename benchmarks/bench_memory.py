"""Peak memory of a 1024-token trace on a GPT-2-medium-shaped model, beyond the weights; and what stays
resident after opening a GPT-2-large-shaped checkpoint.

    python benchmarks/bench_memory.py [--load-only] [--shape gpt2-large]

Each side runs in a fresh process: build the model, reset the kernel's peak-RSS counter
(/proc/self/clear_refs), run, and read VmHWM. gptviz: trace + next-token probabilities + every
layer's attention pattern, one layer at a time (what the attention panels ask for).
transformers: GPT2LMHeadModel(..., output_attentions=True), eager attention. Linux only.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import PROC_MEMORY  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, sys, torch
sys.path.insert(0, ROOT)
torch.manual_seed(0)
ids = torch.randint(0, 50000, (1024,))
if KIND == "gptviz":
    from gptviz.core.config import GPTConfig
    from gptviz.core.model import GPT
    from gptviz.core.session import LoadedModel
    from gptviz.core.tokenizer import gpt2_tokenizer
    from gptviz.checkpoints.loaded import Checkpoint
    cfg = GPTConfig(n_layer=24, n_head=16, n_embd=1024, block_size=1024)
    g = GPT(cfg); g.init_weights(0)
    from gptviz.core.unembedding import stored
    sd = stored(g.state_dict(), cfg.tie_word_embeddings)
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
    code = f"ROOT = {str(ROOT)!r}\nKIND = {kind!r}\n" + PROC_MEMORY + CHILD
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


LOAD_SHAPES = {"gpt2-medium": (24, 16, 1024), "gpt2-large": (36, 20, 1280), "gpt2-xl": (48, 25, 1600)}

LOAD_CHILD = r"""
import gc, json, sys
sys.path.insert(0, ROOT)
import gptviz, gptviz.api
def status():
    return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status")
            if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
gptviz.load(WARM)                    # the same format, tiny: code paths paged in before the baseline
gc.collect(); before = status()
m = gptviz.load(PATH)
gc.collect(); after = status()
# by storage: after load_state_dict(assign=True) a tied lm_head is its own Parameter over wte's memory
weights = sum({p.data_ptr(): p.numel() * p.element_size() for p in m.model.parameters()}.values())
print(json.dumps({"before": before, "after": after, "weights": weights}))
"""


def write_random_hf(folder: Path, n_layer: int, n_head: int, n_embd: int, n_positions: int = 1024,
                    vocab: int = 50257, seed: int = 0) -> int:
    """A GPT-2 checkpoint as transformers saves it (Conv1D (in, out), no lm_head: tied), random fp32
    weights written with safetensors.numpy (much faster than building the model in transformers).
    Returns the bytes of weights."""
    from safetensors.numpy import save_file
    rng = np.random.default_rng(seed)
    d = n_embd
    shapes = {"wte.weight": (vocab, d), "wpe.weight": (n_positions, d), "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(n_layer):
        for k, s in {"ln_1.weight": (d,), "ln_1.bias": (d,), "attn.c_attn.weight": (d, 3 * d),
                     "attn.c_attn.bias": (3 * d,), "attn.c_proj.weight": (d, d), "attn.c_proj.bias": (d,),
                     "ln_2.weight": (d,), "ln_2.bias": (d,), "mlp.c_fc.weight": (d, 4 * d), "mlp.c_fc.bias": (4 * d,),
                     "mlp.c_proj.weight": (4 * d, d), "mlp.c_proj.bias": (d,)}.items():
            shapes[f"h.{i}.{k}"] = s
    tensors = {"transformer." + k: (rng.standard_normal(s, dtype=np.float32) * 0.02) for k, s in shapes.items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({
        "model_type": "gpt2", "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "n_positions": n_positions,
        "vocab_size": vocab, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}))
    return sum(t.nbytes for t in tensors.values())


def measure_load(path: Path, warm: Path, root: str = str(ROOT)) -> dict:
    """/proc/self/status of a fresh process before and after gptviz.load(path)."""
    code = f"ROOT = {root!r}\nWARM = {str(warm)!r}\nPATH = {str(path)!r}\n" + LOAD_CHILD
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def load_table(shape: str, root: str = str(ROOT)) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gptviz-bench-load-"))
    try:
        write_random_hf(tmp / "warm", 1, 2, 64, n_positions=64, vocab=50257)
        nbytes = write_random_hf(tmp / shape, *LOAD_SHAPES[shape])
        r = measure_load(tmp / shape, tmp / "warm", root)
    finally:
        shutil.rmtree(tmp)
    b, a, w = r["before"], r["after"], r["weights"]
    gib = 2**30
    print(f"\nopening a {shape}-shaped HF checkpoint ({nbytes / gib:.2f} GiB of fp32 weights in the file)\n")
    print("| after gptviz.load | RSS | anonymous | file-backed | RSS growth / weights |\n| --- | --- | --- | --- | --- |")
    print(f"| {shape} | {a['VmRSS'] / gib:.2f} GiB | {a['RssAnon'] / gib:.2f} GiB | {a['RssFile'] / gib:.2f} GiB | "
          f"{(a['VmRSS'] - b['VmRSS']) / w:.3f}× (target ≤ 1.1×) |")
    print(f"\n(before the load: RSS {b['VmRSS'] / gib:.2f} GiB, of it file-backed {b['RssFile'] / gib:.2f} GiB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--load-only", action="store_true", help="only the resident-after-load measurement")
    ap.add_argument("--shape", default="gpt2-large", choices=sorted(LOAD_SHAPES))
    ap.add_argument("--root", default=str(ROOT), help="the gptviz checkout to measure (e.g. an older one)")
    args = ap.parse_args()
    load_table(args.shape, args.root)
    if args.load_only:
        return
    ours, ref = measure("gptviz"), measure("transformers")
    print("| measurement | gptviz | transformers | ratio | target |\n| --- | --- | --- | --- | --- |")
    print(f"| peak memory beyond the weights, 1024-token trace, GPT-2-medium shape | {ours:.0f} MiB | {ref:.0f} MiB | "
          f"{ours / ref:.3f}× | ≤ 512 MiB |")
    eager = 24 * 16 * 1024 * 1024 * 4 / 2**20
    print(f"\n(all layers' attention patterns held at once in fp32 would be {eager:.0f} MiB)")


if __name__ == "__main__":
    main()
