"""GPTConfig: the hyper-parameters of a GPT-2-architecture model, validated before anything is allocated."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .unembedding import LM_HEAD

# Sizes beyond these are treated as a broken or hostile config, not a model (GPT-2 XL is 48/25/1600/1024).
_LIMITS = {"n_layer": 512, "n_head": 1024, "n_embd": 65536, "block_size": 1 << 20, "vocab_size": 1 << 22}
ACTIVATIONS = ("gelu_tanh", "gelu")
# The parts of the model that hold weights, as the architecture view draws them; the block parts repeat n_layer times.
PARTS = ("wte", "wpe", "ln1", "attn", "ln2", "mlp", "lnf", "unembed")
BLOCK_PARTS = ("ln1", "attn", "ln2", "mlp")
_PART_OF = {"wte": "wte", "wpe": "wpe", "ln_f": "lnf", "ln_1": "ln1", "attn": "attn", "ln_2": "ln2", "mlp": "mlp"}


class ConfigError(ValueError):
    """A config value is missing, of the wrong type or inconsistent."""


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 256
    vocab_size: int = 50257
    bias: bool = True                 # nanoGPT's bias=False variant drops every Linear/LayerNorm bias
    dropout: float = 0.0              # training only; tracing always runs in eval mode
    layer_norm_eps: float = 1e-5
    activation: str = "gelu_tanh"     # GPT-2/HF "gelu_new" is the tanh approximation; nanoGPT uses exact "gelu"
    n_inner: int | None = None        # MLP width; None means 4 * n_embd
    tie_word_embeddings: bool = True  # lm_head shares wte unless the checkpoint has its own lm_head

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"config {name} must be an integer, got {value!r}")
            if not 1 <= value <= limit:
                raise ConfigError(f"config {name}={value} is outside 1..{limit}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"config n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"config activation {self.activation!r} is not one of {ACTIVATIONS}")
        if self.n_inner is not None and (isinstance(self.n_inner, bool) or not isinstance(self.n_inner, int)
                                         or not 1 <= self.n_inner <= 4 * _LIMITS["n_embd"]):
            raise ConfigError(f"config n_inner={self.n_inner!r} is not a sensible MLP width")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"config dropout={self.dropout!r} must be in [0, 1)")
        if not isinstance(self.layer_norm_eps, (int, float)) or not 0.0 < self.layer_norm_eps < 1.0:
            raise ConfigError(f"config layer_norm_eps={self.layer_norm_eps!r} must be in (0, 1)")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def mlp_width(self) -> int:
        return self.n_inner or 4 * self.n_embd

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every weight this config needs, in our (nanoGPT/HF key, torch Linear (out, in)) layout."""
        d, f, v = self.n_embd, self.mlp_width, self.vocab_size
        shapes: dict[str, tuple[int, ...]] = {
            "transformer.wte.weight": (v, d),
            "transformer.wpe.weight": (self.block_size, d),
            "transformer.ln_f.weight": (d,),
        }
        per_layer = {
            "ln_1.weight": (d,), "attn.c_attn.weight": (3 * d, d), "attn.c_proj.weight": (d, d),
            "ln_2.weight": (d,), "mlp.c_fc.weight": (f, d), "mlp.c_proj.weight": (d, f),
        }
        if self.bias:
            shapes["transformer.ln_f.bias"] = (d,)
            per_layer.update({
                "ln_1.bias": (d,), "attn.c_attn.bias": (3 * d,), "attn.c_proj.bias": (d,),
                "ln_2.bias": (d,), "mlp.c_fc.bias": (f,), "mlp.c_proj.bias": (d,),
            })
        for i in range(self.n_layer):
            for k, s in per_layer.items():
                shapes[f"transformer.h.{i}.{k}"] = s
        if not self.tie_word_embeddings:
            shapes[LM_HEAD] = (v, d)
        return shapes

    def params_by_part(self) -> dict[str, int]:
        """Learned parameters of each part in PARTS, from expected_shapes(); a block part counts one block
        (they all have the same shapes), a tied unembedding 0 (it is wte)."""
        counts = dict.fromkeys(PARTS, 0)
        for key, shape in self.expected_shapes().items():
            parts = key.split(".")                      # transformer.h.{i}.attn.c_attn.weight, transformer.wte.weight
            if key == LM_HEAD:
                part = "unembed"
            elif parts[1] == "h":
                if parts[2] != "0":
                    continue
                part = _PART_OF[parts[3]]
            else:
                part = _PART_OF[parts[1]]
            n = 1
            for s in shape:
                n *= s
            counts[part] += n
        return counts

    def n_params(self) -> int:
        """Parameter count, counting a tied embedding once (as GPT-2's papers do)."""
        return sum(n * (self.n_layer if part in BLOCK_PARTS else 1) for part, n in self.params_by_part().items())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(map(str, unknown))}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "GPTConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(d)


# GPTConfig (our files, nanoGPT, training) <-> the family config every traced model runs on
_TO_FAMILY_ACT = {"gelu_tanh": "gelu_pytorch_tanh", "gelu": "gelu"}   # core.model's F.gelu forms
_FROM_FAMILY_ACT = {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh",
                    "gelu": "gelu"}


def to_model_config(cfg: GPTConfig, model_type: str = "gpt2"):
    """The gptviz.models config of a GPT-2-architecture GPTConfig (ours, nanoGPT's, the built-in model)."""
    from ..models.config import ModelConfig
    b = cfg.bias
    return ModelConfig(
        family="gpt2", model_type=model_type, n_layer=cfg.n_layer, n_head=cfg.n_head, n_kv_head=cfg.n_head,
        head_dim=cfg.head_size, n_embd=cfg.n_embd, vocab_size=cfg.vocab_size, block_size=cfg.block_size,
        positions="learned", mlp_width=cfg.mlp_width, activation=_TO_FAMILY_ACT[cfg.activation],
        norm_eps=cfg.layer_norm_eps, tied=cfg.tie_word_embeddings, windows=(None,) * cfg.n_layer,
        qkv_bias=b, out_bias=b, mlp_bias=b, norm_bias=b)


def from_model_config(mc) -> GPTConfig:
    """The GPTConfig of a GPT-2-family model config (what our .safetensors format records); ConfigError
    for anything our format cannot hold (other families, unscaled attention, other activations)."""
    if isinstance(mc, GPTConfig):
        return mc
    if mc.family != "gpt2" or mc.attn_scale is not None or mc.activation not in _FROM_FAMILY_ACT \
            or len({mc.qkv_bias, mc.out_bias, mc.mlp_bias, mc.norm_bias}) != 1:
        raise ConfigError(f"gptviz's .safetensors format holds GPT-2-architecture models; this is a "
                          f"{mc.model_type} model (family {mc.family})")
    return GPTConfig(n_layer=mc.n_layer, n_head=mc.n_head, n_embd=mc.n_embd, block_size=mc.block_size,
                     vocab_size=mc.vocab_size, bias=mc.qkv_bias, layer_norm_eps=mc.norm_eps,
                     activation=_FROM_FAMILY_ACT[mc.activation],
                     n_inner=None if mc.mlp_width == 4 * mc.n_embd else mc.mlp_width,
                     tie_word_embeddings=mc.tied)
