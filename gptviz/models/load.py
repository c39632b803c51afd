"""Build a family model from a Hugging Face folder: config.json + weights, loaded strictly.

Module names follow each checkpoint's keys, so loading is load_state_dict(strict=True) after
dropping non-persistent buffers older versions saved (causal-mask `attn.bias`, `rotary_emb.inv_freq`)
and filling a tied unembedding from the token embedding. A missing or extra weight or a shape
mismatch is an error naming the key; nothing is ever randomly initialised.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import importlib

import torch

from .config import ModelConfig, from_hf_config

# family -> (module, class); imported on first use
CLASSES = {"gpt2": ("gpt2", "GPT2"), "gpt_neox": ("gpt_neox", "GPTNeoX"), "llama": ("llama", "Llama"),
           "gpt_neo": ("gpt_neo", "GPTNeo"),
           "gemma": ("gemma", "Gemma"), "phi": ("phi", "Phi"), "gptj": ("gptj", "GPTJ"), "opt": ("opt", "OPT")}

# buffers that transformers < 5 wrote into checkpoints; none of them is a weight
_BUFFERS = re.compile(r"(\.attn\.bias|\.attn\.masked_bias|\.attention\.bias|\.attention\.masked_bias|"
                      r"\.attn\.attention\.bias|\.attn\.attention\.masked_bias|rotary_emb\.inv_freq)$")


def build(cfg: ModelConfig) -> torch.nn.Module:
    module, name = CLASSES[cfg.family]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)(cfg)


def read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors, its sharded index, pytorch_model.bin, or its sharded index."""
    from safetensors.torch import load_file
    for index, single, reader in (("model.safetensors.index.json", "model.safetensors", load_file),
                                  ("pytorch_model.bin.index.json", "pytorch_model.bin", _load_bin)):
        if (folder / single).is_file():
            return reader(str(folder / single))
        if (folder / index).is_file():
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            sd = {}
            for shard in shards:
                path = (folder / shard).resolve()
                if path.parent != folder.resolve():
                    raise ValueError(f"shard {shard!r} in {index} is outside the folder")
                sd.update(reader(str(path)))
            return sd
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin (or sharded index) in {folder}")


def _few(keys: list[str]) -> str:
    return f"{keys[:5]}{' …' if len(keys) > 5 else ''}"


def _load_bin(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_state(model: torch.nn.Module, sd: dict[str, torch.Tensor], dtype=torch.float32,
               hf_layout: bool = True) -> torch.nn.Module:
    """Load `sd` strictly. hf_layout: GPT-2's Conv1D weights are stored (in, out) and are transposed
    (False for nanoGPT and our files, which store nn.Linear's (out, in))."""
    cfg = model.cfg
    head, emb = model.TIED
    want = model.state_dict()
    names = {k: model.RENAMES.get(k, k) for k in sd if not _BUFFERS.search(k)}      # file key -> ours
    # files saved from the bare trunk (facebook/opt-*: "decoder.…") lack the causal-LM prefix
    prefix = emb.split(".")[0] + "."
    if names and not any(n.startswith(prefix) for n in names.values()):
        names = {k: (n if n in want else prefix + n) for k, n in names.items()}
    origin = {n: k for k, n in names.items()}
    sd = {n: sd[k] for k, n in names.items()}
    if hf_layout:
        conv = getattr(model, "CONV1D", ())
        sd = {k: (v.t() if conv and k.endswith(conv) else v) for k, v in sd.items()}
    if cfg.tied:
        if emb in sd:
            sd[head] = sd[emb]       # transformers ties them; a stored copy of the head is ignored as it is
    missing = [k for k in want if k not in sd]
    extra = [origin.get(k, k) for k in sd if k not in want]              # named as the file names them
    if missing or extra:
        raise ValueError(f"{cfg.model_type} checkpoint does not match: missing {_few(missing)}, "
                         f"unexpected {_few(extra)}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise ValueError(f"{origin.get(k, k)}: checkpoint shape {tuple(v.shape)} "
                             f"but config gives {tuple(want[k].shape)}")
    # assign=True: the module takes the loaded tensors themselves (works for a model built on "meta")
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
    if cfg.tied:
        model.tie()
    return model.eval()


def load_folder(folder, dtype=torch.float32) -> torch.nn.Module:
    """A ready model (eval mode) from a Hugging Face checkpoint folder. Built on the meta device and
    given the file's tensors, so no memory or time goes to a random initialisation."""
    folder = Path(folder)
    cfg = from_hf_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    with torch.device("meta"):
        model = build(cfg)
    return load_state(model, read_tensors(folder), dtype)
