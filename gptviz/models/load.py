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
from contextlib import contextmanager

import torch

from .config import ModelConfig, from_hf_config

# family -> (module, class); imported on first use
CLASSES = {"gpt2": ("gpt2", "GPT2"), "gpt_neox": ("gpt_neox", "GPTNeoX"), "llama": ("llama", "Llama"),
           "gpt_neo": ("gpt_neo", "GPTNeo"),
           "gemma": ("gemma", "Gemma"), "phi": ("phi", "Phi"), "gptj": ("gptj", "GPTJ"), "opt": ("opt", "OPT")}

# buffers that transformers < 5 wrote into checkpoints; none of them is a weight
_BUFFERS = re.compile(r"(\.attn\.bias|\.attn\.masked_bias|\.attention\.bias|\.attention\.masked_bias|"
                      r"\.attn\.attention\.bias|\.attn\.attention\.masked_bias|rotary_emb\.inv_freq)$")


@contextmanager
def skip_init():
    """nn.Embedding/nn.Linear initialise their weights when built. On the meta device that runs torch's
    Python meta kernels, whose first use imports torch._dynamo (~2.5 s of a 2-core start-up), for values
    the loaded weights replace anyway. (Not thread-safe: nothing else builds modules while a model loads.)"""
    names = ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_")
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def build_meta(cfg: ModelConfig) -> torch.nn.Module:
    """The family model with no storage (weights on "meta"): shapes for checks, then assign()."""
    with torch.device("meta"), skip_init():
        return build(cfg)


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


def plan(model: torch.nn.Module, shapes: dict[str, tuple], hf_layout: bool = True) -> dict[str, tuple[str, bool]]:
    """Match a file's keys and shapes (read from its header, before any tensor) to the model's weights:
    our key -> (the file's key, whether it is transposed). ValueError naming the key and both shapes on
    any missing, extra or misshapen weight. hf_layout: GPT-2's Conv1D weights are stored (in, out)
    (False for nanoGPT and our files, which store nn.Linear's (out, in))."""
    cfg = model.cfg
    head, emb = model.TIED
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    names = {k: model.RENAMES.get(k, k) for k in shapes if not _BUFFERS.search(k)}   # file key -> ours
    # files saved from the bare trunk (facebook/opt-*: "decoder.…") lack the causal-LM prefix
    prefix = emb.split(".")[0] + "."
    if names and not any(n.startswith(prefix) for n in names.values()):
        names = {k: (n if n in want else prefix + n) for k, n in names.items()}
    origin: dict[str, str] = {}
    for k, n in names.items():
        if n in origin:
            raise ValueError(f"keys {origin[n]} and {k} both give weight {n}")
        origin[n] = k
    if cfg.tied and emb in origin:
        origin.pop(head, None)    # transformers ties them; a stored copy of the head is ignored as it is
    conv = getattr(model, "CONV1D", ()) if hf_layout else ()
    keys, bad = {}, []
    for n, k in origin.items():
        t = bool(conv) and n.endswith(conv)
        got = tuple(reversed(shapes[k])) if t else tuple(shapes[k])
        if n in want and got != want[n]:
            bad.append((n, k, tuple(shapes[k]), got))
        keys[n] = (k, t)
    missing = [n for n in want if n not in origin and not (cfg.tied and n == head)]
    extra = [n for n in origin if n not in want]
    if missing or extra or bad:
        raise WeightMismatch(cfg, want, missing, [(origin[n], shapes[origin[n]], keys[n][1]) for n in extra], bad)
    return keys


class WeightMismatch(ValueError):
    """The file's weights do not fit the config. str(): every missing and unexpected key (as the file
    names them) and the first misshapen one; first(): the first problem in the model's own order, with
    its shape and the config's."""

    def __init__(self, cfg, want, missing, extra, bad):
        self.cfg, self.want, self.missing, self.extra, self.bad = cfg, want, missing, extra, bad
        if missing or extra:
            msg = (f"{cfg.model_type} checkpoint does not match: missing {_few(missing)} (expected shapes "
                   f"{_few([want[n] for n in missing])}), unexpected {_few([k for k, _, _ in extra])} "
                   f"(shapes {_few([s for _, s, _ in extra])})")
        else:
            n, k, stored, _ = sorted(bad, key=lambda b: b[1])[0]
            msg = f"{k}: checkpoint shape {stored} but config gives {want[n]}"
        super().__init__(msg)

    def first(self) -> str:
        bad = {n: got for n, _, _, got in self.bad}
        for n, shape in self.want.items():
            if n in self.missing:
                return f"missing weight {n} (expected shape {list(shape)})"
            if n in bad:
                return f"weight {n} has shape {list(bad[n])}, config expects {list(shape)}"
        k, shape, t = self.extra[0]
        shape = tuple(reversed(shape)) if t else shape
        return (f"unexpected weight {k} with shape {list(shape)} (config has n_layer={self.cfg.n_layer}); "
                f"{len(self.extra)} extra key(s)")


def assign(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Give the model (built on "meta") the loaded tensors themselves, tie the head, eval mode."""
    head, emb = model.TIED
    if model.cfg.tied:
        tensors = {**tensors, head: tensors[emb]}
    model.load_state_dict(tensors, strict=True, assign=True)
    if model.cfg.tied:
        model.tie()
    model.cfg.param_count = sum(p.numel() for p in model.parameters())   # shared (tied) weights once
    return model.eval()


def load_state(model: torch.nn.Module, sd: dict[str, torch.Tensor], dtype=torch.float32,
               hf_layout: bool = True) -> torch.nn.Module:
    """Load `sd` strictly (see plan()); floating tensors cast to `dtype`."""
    keys = plan(model, {k: tuple(v.shape) for k, v in sd.items()}, hf_layout)
    return assign(model, {n: (sd[k].t() if t else sd[k]).to(dtype) for n, (k, t) in keys.items()})


def load_folder(folder, dtype=torch.float32) -> torch.nn.Module:
    """A ready model (eval mode) from a Hugging Face checkpoint folder. Built on the meta device and
    given the file's tensors, so no memory or time goes to a random initialisation."""
    folder = Path(folder)
    cfg = from_hf_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    return load_state(build_meta(cfg), read_tensors(folder), dtype)
