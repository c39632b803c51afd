"""Hugging Face GPT-2 checkpoints: a folder (config.json + model.safetensors or pytorch_model.bin),
a single weights file with config.json beside it, or a model id found in the local HF cache."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..core.config import ConfigError, GPTConfig
from ..core.tokenizer import TokenizerError, bpe_from_hf_files, gpt2_tokenizer
from ..core.unembedding import LM_HEAD, keeps
from .errors import CheckpointError
from .loaded import Checkpoint
from .safetensors_io import read_safetensors
from .torch_io import load_torch_file
from .validate import convert_tensors, mixed_prefix_warning

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
                "gelu": "gelu"}
# HF's Conv1D stores (in, out); torch Linear wants (out, in).
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def config_from_hf(d: dict, source: str) -> GPTConfig:
    if not isinstance(d, dict):
        raise CheckpointError(f"{source}: config.json is not a JSON object")
    mt = d.get("model_type")
    if mt not in (None, "gpt2"):
        raise CheckpointError(f"{source}: model_type {mt!r} is not GPT-2 (gptviz reads GPT-2-architecture models)")
    act = d.get("activation_function", "gelu_new")
    if act not in _ACTIVATIONS:
        raise CheckpointError(f"{source}: activation_function {act!r} is not supported")
    if d.get("scale_attn_by_inverse_layer_idx") or d.get("scale_attn_weights") is False:
        raise CheckpointError(f"{source}: non-standard attention scaling is not supported")
    try:
        return GPTConfig(n_layer=d.get("n_layer", 12), n_head=d.get("n_head", 12), n_embd=d.get("n_embd", 768),
                         block_size=d.get("n_positions", d.get("n_ctx", 1024)), vocab_size=d.get("vocab_size", 50257),
                         bias=True, layer_norm_eps=float(d.get("layer_norm_epsilon", 1e-5)),
                         activation=_ACTIVATIONS[act], n_inner=d.get("n_inner"),
                         tie_word_embeddings=bool(d.get("tie_word_embeddings", True)))
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: config.json: {e}") from None


def _renamer(cfg: GPTConfig):
    def rename(k: str) -> str | None:
        if k.endswith((".attn.bias", ".attn.masked_bias")):
            return None                      # causal-mask buffers, not weights
        if k == LM_HEAD:
            return k if keeps(k, cfg.tie_word_embeddings) else None
        return k if k.startswith("transformer.") else "transformer." + k
    return rename


def _transposed(cfg: GPTConfig) -> frozenset[str]:
    return frozenset(f"transformer.h.{i}.{n}" for i in range(cfg.n_layer) for n in _CONV1D)


def find_weights(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def load_hf(path: Path) -> Checkpoint:
    """`path` is a folder with config.json, or a weights file with config.json beside it."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights = find_weights(folder) if path.is_dir() else path
    if weights is None:
        raise CheckpointError(f"{folder}: no model.safetensors or pytorch_model.bin in this folder")
    cfg_file = folder / "config.json"
    try:
        cfg_dict = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{weights}: no config.json beside it (a Hugging Face checkpoint needs one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_file}: unreadable ({e})") from None
    cfg = config_from_hf(cfg_dict, str(cfg_file))
    rename, transpose = _renamer(cfg), _transposed(cfg)
    if weights.suffix == ".safetensors":
        st = read_safetensors(weights)
        names = list(st.shapes)
        state = st.load(cfg, str(weights), rename, transpose)
    else:
        raw = load_torch_file(weights)
        if not isinstance(raw, dict):
            raise CheckpointError(f"{weights}: expected a state dict, found {type(raw).__name__}")
        names = list(raw)
        state = convert_tensors(raw, cfg, str(weights), rename, transpose)
    names = [k for k in names if rename(k) is not None and k != LM_HEAD]
    try:
        tok = bpe_from_hf_files(folder)
    except TokenizerError as e:
        raise CheckpointError(f"{folder}: {e}") from None
    warnings = mixed_prefix_warning(names, "transformer.")
    if tok is None:
        tok = gpt2_tokenizer()
        warnings.append("no tokenizer files beside the weights; using GPT-2's tokenizer")
    name = folder.name
    if folder.parent.name == "snapshots":     # a HF cache snapshot: name it by its repository
        name = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
    return Checkpoint(cfg, state, tok, name=name, source=str(weights), fmt="hf", warnings=warnings)


def looks_like_model_id(s: str) -> bool:
    return bool(_MODEL_ID.match(s)) and not os.path.exists(s)


def resolve_model_id(model_id: str) -> Path:
    """The local snapshot folder of a HF model id: the user's cache first, a download only when online."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{model_id}: not a file, and huggingface_hub is not installed to look it up") from None
    patterns = ["config.json", "*.safetensors", "vocab.json", "merges.txt", "tokenizer.json"]
    try:
        return Path(snapshot_download(model_id, allow_patterns=patterns, local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise CheckpointError(f"{model_id}: no such file, and not in the local Hugging Face cache (offline)")
    try:
        return Path(snapshot_download(model_id, allow_patterns=patterns))
    except Exception as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{model_id}: no such file, not in the local Hugging Face cache, "
                              f"and it could not be downloaded ({first})") from None


def cached_gpt2_models(cache_dir: str | None = None) -> list[tuple[str, Path]]:
    """(model id, snapshot folder) of GPT-2-family models in the local HF cache, for File > Open from cache."""
    try:
        from huggingface_hub import scan_cache_dir
        info = scan_cache_dir(cache_dir)
    except Exception:
        return []
    found = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            cfg = Path(rev.snapshot_path) / "config.json"
            try:
                if json.loads(cfg.read_text(encoding="utf-8")).get("model_type") == "gpt2" and find_weights(cfg.parent):
                    found.append((repo.repo_id, Path(rev.snapshot_path)))
                    break
            except (OSError, ValueError, AttributeError):
                continue
    return found
