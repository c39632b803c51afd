"""Hugging Face checkpoints of every supported family: a folder (config.json + model.safetensors, its
sharded index, pytorch_model.bin or its sharded index), a single weights file with config.json beside
it, or a model id found in the local HF cache.

config.json's model_type picks the family (gptviz.models.MODEL_TYPES); anything unknown, or a config
option that changes the math and is not implemented, is refused by name. Shapes are checked against
the config from the file headers before any tensor is read; weights are read one at a time into memory
of their own, as float32 (bf16/fp16 files too, for exact parity) or in the dtype asked for.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..core.config import _LIMITS
from ..core.tokenizer import Tokenizer, TokenizerError, bpe_from_hf_files, gpt2_tokenizer
from ..models import MODEL_TYPES, ModelConfig, build_meta, from_hf_config, plan
from ..models.load import WeightMismatch
from .errors import CheckpointError
from .loaded import Checkpoint
from .safetensors_io import CORRUPT, read_safetensors
from .torch_io import load_torch_file
from .validate import check_fits_in_memory

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# families whose checkpoints use GPT-2's byte-level BPE (vocab.json + merges.txt and GPT-2's regex)
GPT2_BPE = ("gpt2", "gpt_neo", "gptj", "opt")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?(@[\w./-]+)?$")    # org/name, optionally @revision


def find_weights(folder: Path) -> Path | None:
    """The weights file (or sharded index) of a HF folder, safetensors first."""
    for name in (WEIGHT_FILES[0], INDEX_FILES[0], WEIGHT_FILES[1], INDEX_FILES[1]):
        if (folder / name).is_file():
            return folder / name
    return None


def read_config(folder: Path, source) -> tuple[dict, ModelConfig]:
    cfg_file = folder / "config.json"
    try:
        d = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{source}: no config.json beside it (a Hugging Face checkpoint needs one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_file}: unreadable ({e})") from None
    if not isinstance(d, dict):
        raise CheckpointError(f"{cfg_file}: config.json is not a JSON object")
    if d.get("model_type") is None:
        d = {**d, "model_type": "gpt2"}            # the oldest GPT-2 configs have no model_type
    try:
        mc = from_hf_config(d)
    except KeyError as e:
        raise CheckpointError(f"{cfg_file}: config.json lacks {e} (needed for model_type "
                              f"{d['model_type']!r})") from None
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{cfg_file}: {e}") from None
    for name, limit in _LIMITS.items():          # a broken or hostile config, not a model
        v = getattr(mc, name)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= limit:
            raise CheckpointError(f"{cfg_file}: config {name}={v!r} is outside 1..{limit}")
    if d.get("head_dim") is None and mc.n_embd % mc.n_head:
        raise CheckpointError(f"{cfg_file}: config n_embd={mc.n_embd} is not divisible by n_head={mc.n_head}")
    if mc.n_kv_head < 1 or mc.n_head % mc.n_kv_head or mc.head_dim < 1:
        raise CheckpointError(f"{cfg_file}: {mc.n_head} attention heads cannot share {mc.n_kv_head} KV heads")
    return d, mc


class _Shards:
    """The tensors of one checkpoint, by file key, read lazily from one file or the shards of an index."""

    def __init__(self, weights: Path):
        self.weights = weights
        self.where: dict[str, Path] = {}           # key -> file
        self.shapes: dict[str, tuple] = {}
        self._torch: dict[Path, dict] = {}
        files = [weights]
        if weights.name.endswith(".index.json"):
            files = self._index_files(weights)
        for f in files:
            if f.suffix == ".safetensors":
                st = read_safetensors(f)
                shapes = st.shapes
            else:
                raw = load_torch_file(f)           # weights_only=True; mmap: tensors stay on disk until read
                if not isinstance(raw, dict) or not all(isinstance(t, torch.Tensor) for t in raw.values()):
                    raise CheckpointError(f"{f}: expected a state dict of tensors, found {type(raw).__name__}")
                self._torch[f] = raw
                shapes = {k: tuple(t.shape) for k, t in raw.items()}
            for k, shp in shapes.items():
                if k in self.where:
                    raise CheckpointError(f"{f}: weight {k} is also in {self.where[k].name}")
                self.where[k], self.shapes[k] = f, shp

    @staticmethod
    def _index_files(index: Path) -> list[Path]:
        try:
            wm = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(wm.values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{index}: unreadable shard index ({e})") from None
        files = []
        for n in names:
            # only a plain file name in this folder: never a path built from the index's values
            if not isinstance(n, str) or Path(n).name != n or n in ("", ".", ".."):
                raise CheckpointError(f"{index}: shard {n!r} is not a file name in this folder")
            f = index.parent / n
            if not f.is_file():
                raise CheckpointError(f"{index}: shard {n} is missing")
            files.append(f)
        return files

    def read(self, keys: dict[str, tuple[str, bool]], dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """our key -> a contiguous tensor in memory of its own (not a view of the file's mapping)."""
        from safetensors import safe_open
        out: dict[str, torch.Tensor] = {}
        by_file: dict[Path, list] = {}
        for n, (k, t) in keys.items():
            by_file.setdefault(self.where[k], []).append((n, k, t))
        for f, items in by_file.items():
            try:
                if f in self._torch:
                    for n, k, t in items:
                        out[n] = _owned(self._torch[f][k], t, dtype)
                    continue
                with safe_open(str(f), framework="pt", device="cpu") as fh:
                    for n, k, t in items:
                        out[n] = _owned(fh.get_tensor(k), t, dtype)
            except OSError as e:
                raise CheckpointError(f"{f}: cannot read ({e.strerror or e})") from None
            except CheckpointError:
                raise
            except Exception as e:   # safetensors raises its own error type for truncated data
                raise CheckpointError(f"{f}: {CORRUPT} ({e})") from None
        self._torch.clear()
        return out


def _owned(t: torch.Tensor, transpose: bool, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(f"entry is a {type(t).__name__}, not a tensor")
    t = t.t() if transpose else t
    return t.to(dtype if t.is_floating_point() else t.dtype, memory_format=torch.contiguous_format, copy=True)


class NoTokenizer(Tokenizer):
    """A model whose folder has no tokenizer we can reproduce exactly: ids work (trace_ids), text does
    not, and says why (GPT-2's BPE would give different ids than the model was trained on)."""

    def __init__(self, n_vocab: int, why: str):
        self.name, self.n_vocab, self.why = "none (token ids only)", n_vocab, why

    def encode(self, text: str) -> list[int]:
        raise TokenizerError(self.why)

    def decode(self, ids) -> str:
        return "".join(f"⟨{int(i)}⟩" for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return f"⟨{int(token_id)}⟩".encode()

    def spec(self) -> dict:
        raise TokenizerError(self.why)


def _hf_tokenizer_reader():
    """tokenizer_from_hf_folder (tokenizer.json through the `tokenizers` library) where it is installed."""
    for module in ("hf_tokenizer", "tokenizer"):
        try:
            mod = __import__(f"gptviz.core.{module}", fromlist=["tokenizer_from_hf_folder"])
            return getattr(mod, "tokenizer_from_hf_folder")
        except (ImportError, AttributeError):
            continue
    return None


def hf_tokenizer(folder: Path, mc: ModelConfig, warnings: list[str]) -> Tokenizer:
    try:
        reader = _hf_tokenizer_reader()
        if reader is not None:
            tok = reader(folder)
            if tok is not None:
                return tok
        if mc.family in GPT2_BPE:
            tok = bpe_from_hf_files(folder)
            if tok is None:
                warnings.append("no tokenizer files beside the weights; using GPT-2's tokenizer")
                tok = gpt2_tokenizer()
            return tok
    except TokenizerError as e:
        raise CheckpointError(f"{folder}: {e}") from None
    has = (folder / "tokenizer.json").is_file()
    why = (f"this {mc.model_type} checkpoint's tokenizer.json needs the `tokenizers` library's reader, "
           f"which is not available" if has else
           f"no tokenizer.json beside this {mc.model_type} checkpoint; GPT-2's tokenizer would give "
           f"different ids than the model was trained on")
    warnings.append(why + ": only token ids can be traced (trace_ids)")
    return NoTokenizer(mc.vocab_size, why)


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
          "fp16": torch.float16, "float16": torch.float16}


def parse_dtype(dtype) -> torch.dtype:
    """None/"fp32" (the default: exact parity even for bf16 files), "bf16", "fp16" or a torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in DTYPES:
        return DTYPES[dtype.lower()]
    raise CheckpointError(f"dtype {dtype!r} is not supported; supported: fp32, bf16, fp16")


def load_hf(path: Path, dtype=None) -> Checkpoint:
    """`path` is a folder with config.json, or a weights file with config.json beside it."""
    dt = parse_dtype(dtype)
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights = find_weights(folder) if path.is_dir() else path
    if weights is None:
        raise CheckpointError(f"{folder}: no model.safetensors or pytorch_model.bin (or a sharded index of "
                              "either) in this folder")
    _, mc = read_config(folder, weights)
    files = _Shards(weights)
    model = build_meta(mc)
    try:
        keys = plan(model, files.shapes, hf_layout=True)
    except WeightMismatch as e:
        raise CheckpointError(f"{weights}: {e.first()}") from None
    except ValueError as e:
        raise CheckpointError(f"{weights}: {e}") from None
    n = sum(p.numel() for p in model.parameters()) - (model.unembedding.weight.numel() if mc.tied else 0)
    mc.param_count = n
    check_fits_in_memory(mc, str(weights), n_params=n, dtype=dt)
    state = files.read(keys, dt)
    warnings: list[str] = []
    tok = hf_tokenizer(folder, mc, warnings)
    name = folder.name
    if folder.parent.name == "snapshots":     # a HF cache snapshot: name it by its repository
        name = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
    return Checkpoint(mc, state, tok, name=name, source=str(weights), fmt="hf", warnings=warnings)


def looks_like_model_id(s: str) -> bool:
    return bool(_MODEL_ID.match(s)) and not os.path.exists(s)


def resolve_model_id(model_id: str) -> Path:
    """The local snapshot folder of a HF model id (`org/name`, or `org/name@revision`: a ref such as
    step1000, or a commit): the user's cache first, read directly (no network), a download only when online."""
    from .hf_cache import find_cached
    found = find_cached(model_id)
    if found is not None:
        return found
    model_id, _, revision = model_id.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{model_id}: not a file, and huggingface_hub is not installed to look it up") from None
    patterns = ["config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin",
                "pytorch_model.bin.index.json", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json"]
    try:
        return Path(snapshot_download(model_id, revision=revision or None, allow_patterns=patterns,
                                      local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise CheckpointError(f"{model_id}: no such file, and not in the local Hugging Face cache (offline)")
    try:
        return Path(snapshot_download(model_id, revision=revision or None, allow_patterns=patterns))
    except Exception as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{model_id}: no such file, not in the local Hugging Face cache, "
                              f"and it could not be downloaded ({first})") from None


def cached_gpt2_models(cache_dir: str | None = None) -> list[tuple[str, Path]]:
    """(model id, snapshot folder) of the models of every supported family (not only GPT-2, despite the
    name) in the local HF cache; hf_cache.cached_models has the unsupported ones, sizes and revisions too."""
    from .hf_cache import cached_models
    return [(m.repo_id, m.revisions[0].path) for m in cached_models(cache_dir) if m.supported]
