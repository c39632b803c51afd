"""A Qwen2.5-0.5B-shaped model (random weights, bf16 file) at 2,048 tokens: gptviz's full trace against
transformers' forward in the same run, time and peak memory beyond the weights.

    python benchmarks/bench_families.py [--tokens 2048] [--reps 2]

Shape: 24 layers, hidden 896, 14 heads, 2 KV heads, head 64, intermediate 4864, vocab 151936, tied
(494M parameters). The weights are written straight to a bf16 model.safetensors + config.json (building
them through transformers' init would take minutes on two cores). Both sides compute in float32 (what
gptviz does by default for a bf16 file). Each side runs in a fresh process: load, reset the kernel's
peak-RSS counter (/proc/self/clear_refs) after one warm-up run, run, read VmHWM; time is the median
of --reps runs.
gptviz: trace + next-token probabilities + every layer's attention pattern (14 x T x T), one layer at a
time (what the attention panels ask for). transformers: Qwen2ForCausalLM, eager attention, logits at
the last position only (logits_to_keep=1), once without attentions and once with output_attentions=True
(the same information as the trace: all 24 layers' patterns, 5.6 GiB at 2,048 tokens). Linux only.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import PROC_MEMORY  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
SHAPE = dict(num_hidden_layers=24, hidden_size=896, num_attention_heads=14, num_key_value_heads=2,
             intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)

CHILD = r"""
import gc, statistics, sys, time, torch
sys.path.insert(0, ROOT)
ids = torch.randint(0, 150000, (TOKENS,), generator=torch.Generator().manual_seed(0))
if KIND == "gptviz":
    import gptviz
    m = gptviz.load(FOLDER)
    def run():
        m.clear_cache()
        tr = m.trace_ids(ids.numpy())
        tr.next_token_probs()
        for layer in range(m.config.n_layer):
            tr.attention(layer)
else:
    from transformers import AutoModelForCausalLM
    hf = AutoModelForCausalLM.from_pretrained(FOLDER, dtype=torch.float32, attn_implementation="eager").eval()
    def run():
        with torch.no_grad():
            out = hf(ids[None], logits_to_keep=1, use_cache=False, output_attentions=KIND == "transformers+att")
            torch.softmax(out.logits[0, -1], -1)
run()                                   # warm-up: first-touch of the weights, kernel set-up (both sides)
if KIND == "gptviz":
    m.clear_cache()                     # the warm-up's trace is not part of the baseline
reset_peak(); base = rss("VmRSS")
times = []
for _ in range(REPS):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
print(statistics.median(times), (rss("VmHWM") - base) / 2**20)
"""


def write_qwen(folder: Path, seed: int = 0) -> int:
    """Random bf16 weights in Qwen2's key layout (q/k/v biases, tied head); returns the parameter count."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(seed)
    C, F, V, L = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"], SHAPE["num_hidden_layers"]
    kv = SHAPE["num_key_value_heads"] * C // SHAPE["num_attention_heads"]
    shapes = {"model.embed_tokens.weight": (V, C), "model.norm.weight": (C,)}
    for i in range(L):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (C,), p + "post_attention_layernorm.weight": (C,),
                       p + "self_attn.q_proj.weight": (C, C), p + "self_attn.q_proj.bias": (C,),
                       p + "self_attn.k_proj.weight": (kv, C), p + "self_attn.k_proj.bias": (kv,),
                       p + "self_attn.v_proj.weight": (kv, C), p + "self_attn.v_proj.bias": (kv,),
                       p + "self_attn.o_proj.weight": (C, C), p + "mlp.gate_proj.weight": (F, C),
                       p + "mlp.up_proj.weight": (F, C), p + "mlp.down_proj.weight": (C, F)})
    tensors = {}
    for k, s in shapes.items():
        t = torch.randn(s, generator=g) * (0.02 if len(s) == 2 else 0.1)
        tensors[k] = (t + 1.0 if "norm" in k else t).to(torch.bfloat16)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], **SHAPE, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "hidden_act": "silu", "use_sliding_window": False, "torch_dtype": "bfloat16"}))
    return sum(t.numel() for t in tensors.values())


def measure(kind: str, folder: Path, tokens: int, reps: int) -> tuple[float, float]:
    code = (f"ROOT = {str(ROOT)!r}\nKIND = {kind!r}\nFOLDER = {str(folder)!r}\nTOKENS = {tokens}\n"
            f"REPS = {reps}\n" + PROC_MEMORY + CHILD)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{kind} failed:\n{r.stderr[-2000:]}")
    t, mem = r.stdout.strip().splitlines()[-1].split()
    return float(t), float(mem)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gptviz-bench-qwen-"))
    try:
        n = write_qwen(tmp / "qwen")
        ours = measure("gptviz", tmp / "qwen", a.tokens, a.reps)
        ref = measure("transformers", tmp / "qwen", a.tokens, a.reps)
        att = measure("transformers+att", tmp / "qwen", a.tokens, a.reps)
    finally:
        shutil.rmtree(tmp)
    print(f"Qwen2.5-0.5B shape ({n / 1e6:.0f}M parameters, bf16 file, computed in fp32), {a.tokens} tokens\n")
    print("| measurement | gptviz | transformers | ratio |\n| --- | --- | --- | --- |")
    for what, r in (("forward", ref), ("forward with output_attentions", att)):
        print(f"| full trace, {a.tokens} tokens (every layer's attention + next-token probs) vs {what} | "
              f"{ours[0]:.1f} s | {r[0]:.1f} s | {ours[0] / r[0]:.3f}× |")
    for what, r in (("forward", ref), ("forward with output_attentions", att)):
        print(f"| peak memory beyond the weights, {a.tokens} tokens, vs {what} | {ours[1]:.0f} MiB | "
              f"{r[1]:.0f} MiB | {ours[1] / r[1]:.3f}× |")


if __name__ == "__main__":
    main()
