"""Independent references for tests: a GPT-2 forward written from the architecture with plain torch
functional ops (no gptviz code), and builders for HF / nanoGPT checkpoints with non-trivial weights."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F


def reference_forward(sd: dict[str, torch.Tensor], n_layer: int, n_head: int, ids: torch.Tensor,
                      gelu_approx: str = "none", eps: float = 1e-5, conv1d: bool = False):
    """Logits (T, V) and attention [(H, T, T)] for 1-D ids. `sd` in nanoGPT naming; conv1d=True for HF (in, out)."""
    def W(k):
        w = sd[k]
        return w if conv1d else w.t()          # as (in, out)

    def b(k):
        return sd.get(k)

    def ln(x, p):
        return F.layer_norm(x, x.shape[-1:], sd[p + ".weight"], b(p + ".bias"), eps)

    T = ids.shape[0]
    x = sd["transformer.wte.weight"][ids] + sd["transformer.wpe.weight"][:T]
    C = x.shape[-1]
    hs = C // n_head
    atts = []
    for i in range(n_layer):
        p = f"transformer.h.{i}."
        h = ln(x, p + "ln_1")
        qkv = h @ W(p + "attn.c_attn.weight")
        if b(p + "attn.c_attn.bias") is not None:
            qkv = qkv + b(p + "attn.c_attn.bias")
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(T, n_head, hs).transpose(0, 1) for t in (q, k, v))   # (H, T, hs)
        s = q @ k.transpose(-1, -2) / math.sqrt(hs)
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        a = s.softmax(-1)
        atts.append(a)
        y = (a @ v).transpose(0, 1).reshape(T, C) @ W(p + "attn.c_proj.weight")
        if b(p + "attn.c_proj.bias") is not None:
            y = y + b(p + "attn.c_proj.bias")
        x = x + y
        h = ln(x, p + "ln_2") @ W(p + "mlp.c_fc.weight")
        if b(p + "mlp.c_fc.bias") is not None:
            h = h + b(p + "mlp.c_fc.bias")
        h = F.gelu(h, approximate=gelu_approx) @ W(p + "mlp.c_proj.weight")
        if b(p + "mlp.c_proj.bias") is not None:
            h = h + b(p + "mlp.c_proj.bias")
        x = x + h
    x = ln(x, "transformer.ln_f")
    head = sd.get("lm_head.weight", sd["transformer.wte.weight"])
    return x @ head.t(), atts


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.15) -> None:
    """Non-trivial weights everywhere: LayerNorm gains around 1, every bias non-zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def make_hf_model(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=50257, seed=0, **kw):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                     vocab_size=vocab_size, attn_implementation="eager", **kw)
    torch.manual_seed(seed)
    m = GPT2LMHeadModel(cfg).eval()
    randomize_(m, seed)
    return m


def save_hf_bin(model, folder: Path, with_mask_buffers: bool = True) -> Path:
    """pytorch_model.bin as transformers < 5 wrote it: the state dict, with causal-mask buffers."""
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    if with_mask_buffers:
        T = model.config.n_positions
        for i in range(model.config.n_layer):
            sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
            sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(sd, folder / "pytorch_model.bin")
    model.config.to_json_file(folder / "config.json")
    return folder


def nanogpt_state(n_layer=2, n_head=4, n_embd=32, block_size=64, vocab_size=50304, bias=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = n_embd
    sd = {"transformer.wte.weight": 0.3 * torch.randn(vocab_size, d, generator=g),
          "transformer.wpe.weight": 0.3 * torch.randn(block_size, d, generator=g),
          "transformer.ln_f.weight": 1 + 0.3 * torch.randn(d, generator=g)}
    shapes = {"ln_1.weight": (d,), "attn.c_attn.weight": (3 * d, d), "attn.c_proj.weight": (d, d),
              "ln_2.weight": (d,), "mlp.c_fc.weight": (4 * d, d), "mlp.c_proj.weight": (d, 4 * d)}
    if bias:
        sd["transformer.ln_f.bias"] = 0.1 * torch.randn(d, generator=g)
        shapes.update({"ln_1.bias": (d,), "attn.c_attn.bias": (3 * d,), "attn.c_proj.bias": (d,),
                       "ln_2.bias": (d,), "mlp.c_fc.bias": (4 * d,), "mlp.c_proj.bias": (d,)})
    for i in range(n_layer):
        for k, s in shapes.items():
            scale = 1.0 if k.endswith(("ln_1.weight", "ln_2.weight")) else 0.0
            sd[f"transformer.h.{i}.{k}"] = scale + 0.2 * torch.randn(s, generator=g)
    sd["lm_head.weight"] = sd["transformer.wte.weight"]   # tied, as nanoGPT saves it
    args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias,
                vocab_size=vocab_size, dropout=0.0)
    return sd, args


def save_nanogpt(path: Path, sd, args, compiled=True):
    model = {("_orig_mod." + k if compiled else k): v for k, v in sd.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "model_args": args, "iter_num": 100, "best_val_loss": torch.tensor(2.5),
                "config": {"dataset": "../../../etc", "batch_size": 12},
                "optimizer": {"state": {}, "param_groups": [{"lr": 6e-4, "params": [0, 1]}]}}, path)
    return path


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj), encoding="utf-8")
