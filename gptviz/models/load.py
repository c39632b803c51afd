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
CLASSES = {"gpt_neox": ("gpt_neox", "GPTNeoX"), "llama": ("llama", "Llama"), "gpt_neo": ("gpt_neo", "GPTNeo"),
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


def _load_bin(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_state(model: torch.nn.Module, sd: dict[str, torch.Tensor], dtype=torch.float32) -> torch.nn.Module:
    cfg = model.cfg
    sd = {k: v for k, v in sd.items() if not _BUFFERS.search(k)}
    head, emb = model.TIED
    if cfg.tied:
        if emb in sd:
            sd[head] = sd[emb]       # transformers ties them; a stored copy of the head is ignored as it is
    want = model.state_dict()
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    if missing or extra:
        raise ValueError(f"{cfg.model_type} checkpoint does not match: missing {missing[:5]}"
                         f"{' …' if len(missing) > 5 else ''}, unexpected {extra[:5]}{' …' if len(extra) > 5 else ''}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} but config gives {tuple(want[k].shape)}")
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True)
    if cfg.tied:
        model.tie()
    return model.to(dtype).eval()


def load_folder(folder, dtype=torch.float32) -> torch.nn.Module:
    """A ready model (eval mode) from a Hugging Face checkpoint folder."""
    folder = Path(folder)
    cfg = from_hf_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    return load_state(build(cfg), read_tensors(folder), dtype)
