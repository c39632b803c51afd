"""nanoGPT checkpoints: ckpt.pt with `model_args` + `model`, GPT-2 BPE or characters from meta.pkl.

Where the vocabulary lives is found by looking beside the checkpoint (meta.pkl, data/*/meta.pkl),
never by a path built from values inside the checkpoint.
"""
from __future__ import annotations

from pathlib import Path

from ..core.config import ConfigError, GPTConfig
from ..core.tokenizer import CharTokenizer, TokenizerError, gpt2_tokenizer
from ..core.unembedding import LM_HEAD, WTE, head_is_tied, keeps
from .errors import CheckpointError
from .loaded import Checkpoint
from .safe_unpickle import load_plain_pickle
from .torch_io import load_torch_file
from .validate import convert_tensors, mixed_prefix_warning

_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")


def is_nanogpt(obj) -> bool:
    return isinstance(obj, dict) and "model_args" in obj and "model" in obj


def config_from_args(args, source: str, tied: bool) -> GPTConfig:
    if not isinstance(args, dict):
        raise CheckpointError(f"{source}: model_args is a {type(args).__name__}, not a mapping")
    missing = [k for k in _ARGS if k not in args]
    if missing:
        raise CheckpointError(f"{source}: model_args lacks {', '.join(missing)}")
    bias = args.get("bias", True)
    if not isinstance(bias, bool):
        raise CheckpointError(f"{source}: model_args bias={bias!r} is not true/false")
    try:
        return GPTConfig(**{k: args[k] for k in _ARGS}, bias=bias, activation="gelu", tie_word_embeddings=tied)
    except ConfigError as e:
        raise CheckpointError(f"{source}: model_args: {e}") from None


def find_meta(ckpt_path: Path) -> list[Path]:
    here = ckpt_path.parent
    found = [here / "meta.pkl"] if (here / "meta.pkl").is_file() else []
    for root in (here, here.parent):
        found += sorted(p for p in root.glob("data/*/meta.pkl") if p.is_file())
    return found


def char_tokenizer(meta_path: Path) -> CharTokenizer:
    meta = load_plain_pickle(meta_path)
    itos = meta.get("itos") if isinstance(meta, dict) else None
    if not isinstance(itos, dict) or not all(isinstance(k, int) for k in itos):
        raise CheckpointError(f"{meta_path}: no itos mapping of ids to characters")
    if sorted(itos) != list(range(len(itos))):
        raise CheckpointError(f"{meta_path}: itos ids are not 0..{len(itos) - 1}")
    try:
        return CharTokenizer([itos[i] for i in range(len(itos))], name="characters")
    except TokenizerError as e:
        raise CheckpointError(f"{meta_path}: {e}") from None


def load_nanogpt(path: Path, raw=None) -> Checkpoint:
    path = Path(path)
    raw = load_torch_file(path) if raw is None else raw
    if not is_nanogpt(raw):
        raise CheckpointError(f"{path}: not a nanoGPT checkpoint (no model_args and model entries)")
    weights = raw["model"]
    if not isinstance(weights, dict):
        raise CheckpointError(f"{path}: 'model' is a {type(weights).__name__}, not a state dict")
    warnings = mixed_prefix_warning(weights, "_orig_mod.")
    weights = {k.removeprefix("_orig_mod."): v for k, v in weights.items()}
    tied = head_is_tied(weights.get(LM_HEAD), weights.get(WTE))
    cfg = config_from_args(raw["model_args"], str(path), tied)

    def rename(k: str) -> str | None:
        if k.endswith(".attn.bias") and getattr(weights[k], "dim", lambda: 0)() == 4:
            return None                 # the causal-mask buffer of torch without flash attention
        return k if keeps(k, tied) else None

    state = convert_tensors(weights, cfg, str(path), rename)
    metas = find_meta(path)
    if metas:
        tok = char_tokenizer(metas[0])
        if len(metas) > 1:
            warnings.append(f"several meta.pkl files found; using {metas[0]}")
        if tok.n_vocab > cfg.vocab_size:
            raise CheckpointError(f"{metas[0]}: {tok.n_vocab} characters but the model has vocab_size {cfg.vocab_size}")
    else:
        tok = gpt2_tokenizer()
        if cfg.vocab_size < tok.n_vocab:
            raise CheckpointError(f"{path}: vocab_size {cfg.vocab_size} is smaller than GPT-2's {tok.n_vocab} and "
                                  "no meta.pkl was found beside it (a character-level model needs its meta.pkl)")
    name = path.parent.name if path.stem == "ckpt" else path.stem
    return Checkpoint(cfg, state, tok, name=name, source=str(path), fmt="nanogpt", warnings=warnings)
