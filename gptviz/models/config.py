"""One config for every family, read from a Hugging Face config.json of any transformers version.

`from_hf_config(d)` reads the keys current transformers writes (`rope_parameters`) and the ones older
versions wrote (`rope_theta`, `rope_scaling` with `type`, `rotary_pct`, `rotary_emb_base`,
`partial_rotary_factor`, GPT-Neo's `attention_layers`, …). Anything that would change the math and is
not implemented here raises ValueError naming it and what is supported: never silently different numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

FAMILIES = ("gpt2", "gpt_neox", "llama", "gpt_neo", "gemma", "phi", "gptj", "opt")
# config.json model_type -> family file
MODEL_TYPES = {"gpt2": "gpt2", "gpt_neox": "gpt_neox", "llama": "llama", "mistral": "llama", "qwen2": "llama",
               "qwen3": "llama", "gpt_neo": "gpt_neo", "gemma": "gemma", "phi": "phi", "gptj": "gptj",
               "opt": "opt"}
ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "relu", "silu", "swish")


@dataclass
class ModelConfig:
    family: str                      # the family file: one of FAMILIES
    model_type: str                  # config.json's own name (mistral, qwen2, … map to llama)
    n_layer: int
    n_head: int
    n_kv_head: int                   # < n_head: grouped-query attention (GQA)
    head_dim: int
    n_embd: int
    vocab_size: int
    block_size: int                  # max_position_embeddings / n_positions
    positions: str                   # "learned" | "rotary"
    mlp_width: int
    activation: str                  # a name from ACTIVATIONS, as transformers' ACT2FN spells it
    norm_eps: float
    tied: bool                       # unembedding = token embedding
    rotary_dim: int = 0              # rotated dims at the start of each head (partial rotary)
    rope: dict = field(default_factory=dict)   # rope_type, rope_theta and the scaling parameters
    windows: tuple = ()              # per layer: None (full causal) or the window length
    attn_scale: float | None = None  # None: 1/sqrt(head_dim); GPT-Neo uses 1.0
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False            # Qwen3 RMSNorm / Phi LayerNorm on each head's q and k
    parallel_residual: bool = False  # x + attn(ln1 x) + mlp(ln2 x) (NeoX) or one ln (GPT-J, Phi)
    post_ln: bool = False            # OPT-350m: LayerNorm after each residual add
    final_norm: bool = True
    norm_affine: bool = True         # OPT's layer_norm_elementwise_affine
    norm_bias: bool = True           # nanoGPT's bias=False drops LayerNorm biases too
    word_embed_proj_dim: int = 0     # OPT: embeddings narrower than the residual (project_in/out)
    pos_offset: int = 0              # OPT: learned position p is row p + 2
    param_count: int = field(default=0, compare=False)   # filled in by the loader (tied weights once)

    # ---- what the views and the architecture drawing read (derived, never stored twice) ----------
    @property
    def scale(self) -> float:
        """The factor on q·k before the softmax: 1/sqrt(head_dim), GPT-Neo's 1, or GPT-2's unscaled 1."""
        return self.attn_scale if self.attn_scale is not None else self.head_dim ** -0.5

    @property
    def norm(self) -> str:
        """"layernorm", "rmsnorm" (Llama family) or "rmsnorm_1+w" (Gemma: x/rms(x) * (1 + w))."""
        return {"llama": "rmsnorm", "gemma": "rmsnorm_1+w"}.get(self.family, "layernorm")

    @property
    def mlp(self) -> str:
        """"swiglu" (down(silu(gate x) * up x)), "geglu" (Gemma) or "dense" (fc, activation, proj)."""
        if self.family in ("llama", "gemma"):
            return "swiglu" if self.activation in ("silu", "swish") else "geglu"
        return "dense"

    @property
    def embed_scale(self) -> float:
        """Gemma multiplies the token embedding by sqrt(n_embd); every other family by 1."""
        return self.n_embd ** 0.5 if self.family == "gemma" else 1.0

    def window(self, layer: int) -> int | None:
        """Layer `layer`'s attention window (None: every earlier position)."""
        return self.windows[layer]

    def kv_head_of(self, head: int) -> int:
        """The KV head a query head reads (grouped-query attention shares each among n_head/n_kv_head)."""
        return head // (self.n_head // self.n_kv_head)

    # GPT-2-era names, kept for callers written against GPTConfig
    @property
    def head_size(self) -> int:
        return self.head_dim

    @property
    def bias(self) -> bool:
        return self.qkv_bias

    @property
    def tie_word_embeddings(self) -> bool:
        return self.tied

    @property
    def layer_norm_eps(self) -> float:
        return self.norm_eps

    def n_params(self) -> int:
        """Learned parameters, a tied unembedding counted once (as the loaded model has them)."""
        return self.param_count


def _fail(what: str, supported) -> ValueError:
    return ValueError(f"{what} is not supported; supported: {', '.join(supported)}")


def _require_act(name: str) -> str:
    if name not in ACTIVATIONS:
        raise _fail(f"activation {name!r}", ACTIVATIONS)
    return name


def _rope(d: dict, head_dim: int, theta_key: str = "rope_theta", partial_key: str = "partial_rotary_factor",
          default_partial: float = 1.0) -> tuple[dict, float]:
    """(rope parameters, partial rotary factor). `rope_scaling` (old name) wins over `rope_parameters`,
    as transformers' convert_rope_params_to_dict does; top-level keys fill what the dict leaves out."""
    rp = dict(d.get("rope_scaling") or d.get("rope_parameters") or {})
    if any(isinstance(v, dict) for v in rp.values()):
        raise ValueError("per-layer-type rope_parameters are not supported; supported: one rope for all layers")
    rtype = rp.pop("rope_type", None) or rp.pop("type", None) or "default"
    rp.pop("type", None)
    if rtype not in ROPE_TYPES:
        raise _fail(f"rope_type {rtype!r}", ROPE_TYPES)
    theta = rp.pop("rope_theta", None)
    theta = float(theta if theta is not None else d.get(theta_key) if d.get(theta_key) is not None else 10000.0)
    partial = rp.pop("partial_rotary_factor", None)
    if partial is None:
        partial = d.get(partial_key)
    partial = float(default_partial if partial is None else partial)
    max_pos = d.get("max_position_embeddings", 2048)
    need = {"linear": ("factor",), "dynamic": ("factor",), "yarn": ("factor",),
            "llama3": ("factor", "low_freq_factor", "high_freq_factor")}.get(rtype, ())
    for key in need:
        if rp.get(key) is None and not (rtype == "yarn" and key == "factor"):
            raise ValueError(f"rope_type {rtype!r} needs {key!r} in rope_parameters/rope_scaling")
    if rtype in ("llama3", "yarn"):
        # Phi-3-style files keep the pretraining length at the top level; it then takes priority
        if d.get("original_max_position_embeddings") is not None:
            rp["original_max_position_embeddings"] = d["original_max_position_embeddings"]
        rp.setdefault("original_max_position_embeddings", max_pos)
    rope = {"rope_type": rtype, "rope_theta": theta, "max_position_embeddings": max_pos, **rp}
    return rope, partial


def _check_windows(cfg: ModelConfig) -> ModelConfig:
    for w in cfg.windows:
        if w is not None and (not isinstance(w, int) or w < 1):
            raise ValueError(f"attention window {w!r} must be a positive whole number of positions")
    return cfg


def _refuse_unimplemented(d: dict) -> None:
    if d.get("alibi") or d.get("position_embedding_type") == "alibi":
        raise ValueError("alibi position biases are not supported; supported: learned and rotary positions")
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if d.get(key) is not None:
            raise ValueError(f"{key} is not supported by the {d.get('model_type')} family here")
    if d.get("use_bidirectional_attention"):
        raise ValueError("use_bidirectional_attention is not supported; supported: causal attention")


def from_hf_config(d: dict) -> ModelConfig:
    """ModelConfig from a config.json dict (any transformers version)."""
    mt = d.get("model_type")
    if mt not in MODEL_TYPES:
        raise _fail(f"model_type {mt!r}", sorted(MODEL_TYPES))
    _refuse_unimplemented(d)
    cfg = _check_windows(_READERS[MODEL_TYPES[mt]](d))
    if cfg.rope.get("rope_type") == "dynamic":
        # dynamic NTK exists to run past the pretraining length: the context is factor times longer
        cfg.block_size = int(cfg.block_size * cfg.rope["factor"])
    return cfg


def _gpt2(d: dict) -> ModelConfig:
    C, nh, L = d["n_embd"], d["n_head"], d["n_layer"]
    if d.get("scale_attn_by_inverse_layer_idx"):
        raise ValueError("scale_attn_by_inverse_layer_idx is not supported; supported: one scale for all layers")
    if d.get("add_cross_attention"):
        raise ValueError("add_cross_attention is not supported; supported: decoder-only GPT-2")
    return ModelConfig(
        family="gpt2", model_type="gpt2", n_layer=L, n_head=nh, n_kv_head=nh, head_dim=C // nh, n_embd=C,
        vocab_size=d["vocab_size"], block_size=d.get("n_positions", 1024), positions="learned",
        mlp_width=d.get("n_inner") or 4 * C, activation=_require_act(d.get("activation_function", "gelu_new")),
        norm_eps=d.get("layer_norm_epsilon", 1e-5), tied=bool(d.get("tie_word_embeddings", True)),
        windows=(None,) * L, attn_scale=None if d.get("scale_attn_weights", True) else 1.0,
        qkv_bias=True, out_bias=True, mlp_bias=True)


def from_nanogpt_args(args: dict, activation: str = "gelu") -> ModelConfig:
    """ModelConfig of a nanoGPT checkpoint's model_args (its GELU is the exact erf form)."""
    C, L, bias = args["n_embd"], args["n_layer"], bool(args.get("bias", True))
    return ModelConfig(
        family="gpt2", model_type="nanogpt", n_layer=L, n_head=args["n_head"], n_kv_head=args["n_head"],
        head_dim=C // args["n_head"], n_embd=C, vocab_size=args["vocab_size"], block_size=args["block_size"],
        positions="learned", mlp_width=4 * C, activation=_require_act(activation), norm_eps=1e-5, tied=True,
        windows=(None,) * L, qkv_bias=bias, out_bias=bias, mlp_bias=bias, norm_bias=bias)


def _gpt_neox(d: dict) -> ModelConfig:
    C, nh = d["hidden_size"], d["num_attention_heads"]
    hs = C // nh
    # NeoX spells them rotary_emb_base / rotary_pct (default 0.25, Pythia's value)
    rope, partial = _rope(d, hs, theta_key="rotary_emb_base", partial_key="rotary_pct", default_partial=0.25)
    return ModelConfig(
        family="gpt_neox", model_type="gpt_neox", n_layer=d["num_hidden_layers"], n_head=nh, n_kv_head=nh,
        head_dim=hs, n_embd=C, vocab_size=d["vocab_size"], block_size=d.get("max_position_embeddings", 2048),
        positions="rotary", mlp_width=d.get("intermediate_size", 4 * C),
        activation=_require_act(d.get("hidden_act", "gelu")), norm_eps=d.get("layer_norm_eps", 1e-5),
        tied=bool(d.get("tie_word_embeddings", False)), rotary_dim=int(hs * partial), rope=rope,
        windows=(None,) * d["num_hidden_layers"], qkv_bias=d.get("attention_bias", True),
        out_bias=d.get("attention_bias", True), mlp_bias=True,
        parallel_residual=bool(d.get("use_parallel_residual", True)))


def _llama(d: dict) -> ModelConfig:
    mt = d["model_type"]
    C, nh, L = d["hidden_size"], d["num_attention_heads"], d["num_hidden_layers"]
    hs = d.get("head_dim") or C // nh
    if mt == "qwen3" and d.get("head_dim") is None:
        hs = 128                                    # Qwen3Config's default when the file leaves it out
    rope, partial = _rope(d, hs)
    if partial != 1.0:
        raise ValueError(f"partial_rotary_factor {partial} is not supported for {mt}; supported: 1.0")
    windows = _llama_windows(d, L)
    # which projections have biases is fixed per model_type in transformers (mistral: none; qwen2:
    # q/k/v only), configurable only for llama and qwen3 (attention_bias) and llama's MLP (mlp_bias)
    bias = {"mistral": False, "qwen2": True}.get(mt, bool(d.get("attention_bias", False)))
    return ModelConfig(
        family="llama", model_type=mt, n_layer=L, n_head=nh, n_kv_head=d.get("num_key_value_heads") or nh,
        head_dim=hs, n_embd=C, vocab_size=d["vocab_size"], block_size=d.get("max_position_embeddings", 2048),
        positions="rotary", mlp_width=d["intermediate_size"], activation=_require_act(d.get("hidden_act", "silu")),
        norm_eps=d.get("rms_norm_eps", 1e-6), tied=bool(d.get("tie_word_embeddings", False)), rotary_dim=hs,
        rope=rope, windows=windows, qkv_bias=bias, out_bias=bias and mt != "qwen2",
        mlp_bias=mt == "llama" and bool(d.get("mlp_bias", False)), qk_norm=mt == "qwen3")


def _llama_windows(d: dict, L: int) -> tuple:
    mt = d["model_type"]
    if mt == "mistral":
        w = d.get("sliding_window", 4096)
        return (w,) * L
    if mt in ("qwen2", "qwen3"):
        w = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
        types = d.get("layer_types")
        if types is None:
            start = d.get("max_window_layers", 28)
            types = ["sliding_attention" if w is not None and i >= start else "full_attention" for i in range(L)]
        bad = set(types) - {"sliding_attention", "full_attention"}
        if bad:
            raise _fail(f"layer_types {sorted(bad)}", ("sliding_attention", "full_attention"))
        return tuple(w if t == "sliding_attention" else None for t in types)
    if d.get("sliding_window") is not None:
        raise ValueError(f"sliding_window is not supported for {mt}; supported: mistral, qwen2, qwen3")
    return (None,) * L


def _gpt_neo(d: dict) -> ModelConfig:
    C, L = d["hidden_size"], d["num_layers"]
    layers = d.get("attention_layers")
    if not layers:   # expand [[["global", "local"], 12]] as transformers does
        layers = [t for kinds, n in d.get("attention_types") or [[["global", "local"], L // 2]]
                  for _ in range(n) for t in kinds]
    if len(layers) != L or set(layers) - {"global", "local"}:
        raise ValueError(f"attention_layers {layers} must give 'global' or 'local' for each of {L} layers")
    w = d.get("window_size", 256)
    return ModelConfig(
        family="gpt_neo", model_type="gpt_neo", n_layer=L, n_head=d["num_heads"], n_kv_head=d["num_heads"],
        head_dim=C // d["num_heads"], n_embd=C, vocab_size=d["vocab_size"],
        block_size=d.get("max_position_embeddings", 2048), positions="learned",
        mlp_width=d.get("intermediate_size") or 4 * C,
        activation=_require_act(d.get("activation_function", "gelu_new")),
        norm_eps=d.get("layer_norm_epsilon", 1e-5), tied=bool(d.get("tie_word_embeddings", True)),
        windows=tuple(w if t == "local" else None for t in layers), attn_scale=1.0,
        qkv_bias=False, out_bias=True, mlp_bias=True)


def _gemma(d: dict) -> ModelConfig:
    C, nh = d["hidden_size"], d["num_attention_heads"]
    hs = d.get("head_dim") or 256
    rope, partial = _rope(d, hs)
    act = d.get("hidden_activation") or d.get("hidden_act", "gelu_pytorch_tanh")
    act = "gelu_pytorch_tanh" if act == "gelu" else act     # GemmaConfig maps plain gelu to the tanh form
    bias = bool(d.get("attention_bias", False))
    return ModelConfig(
        family="gemma", model_type="gemma", n_layer=d["num_hidden_layers"], n_head=nh,
        n_kv_head=d.get("num_key_value_heads") or nh, head_dim=hs, n_embd=C, vocab_size=d["vocab_size"],
        block_size=d.get("max_position_embeddings", 8192), positions="rotary", mlp_width=d["intermediate_size"],
        activation=_require_act(act), norm_eps=d.get("rms_norm_eps", 1e-6),
        tied=bool(d.get("tie_word_embeddings", True)), rotary_dim=int(hs * partial), rope=rope,
        windows=(None,) * d["num_hidden_layers"], qkv_bias=bias, out_bias=bias)


def _phi(d: dict) -> ModelConfig:
    C, nh = d["hidden_size"], d["num_attention_heads"]
    hs = C // nh
    rope, partial = _rope(d, hs, default_partial=0.5)
    return ModelConfig(
        family="phi", model_type="phi", n_layer=d["num_hidden_layers"], n_head=nh,
        n_kv_head=d.get("num_key_value_heads") or nh, head_dim=hs, n_embd=C, vocab_size=d["vocab_size"],
        block_size=d.get("max_position_embeddings", 2048), positions="rotary", mlp_width=d["intermediate_size"],
        activation=_require_act(d.get("hidden_act", "gelu_new")), norm_eps=d.get("layer_norm_eps", 1e-5),
        tied=bool(d.get("tie_word_embeddings", False)), rotary_dim=int(hs * partial), rope=rope,
        windows=(None,) * d["num_hidden_layers"], qkv_bias=True, out_bias=True, mlp_bias=True,
        qk_norm=bool(d.get("qk_layernorm", False)), parallel_residual=True)


def _gptj(d: dict) -> ModelConfig:
    C, nh = d["n_embd"], d["n_head"]
    if d.get("rotary_dim") is None:
        raise ValueError("gptj without rotary_dim is not supported; supported: rotary_dim set (GPT-J-6B: 64)")
    return ModelConfig(
        family="gptj", model_type="gptj", n_layer=d["n_layer"], n_head=nh, n_kv_head=nh, head_dim=C // nh,
        n_embd=C, vocab_size=d["vocab_size"], block_size=d.get("n_positions", 2048), positions="rotary",
        mlp_width=d.get("n_inner") or 4 * C, activation=_require_act(d.get("activation_function", "gelu_new")),
        norm_eps=d.get("layer_norm_epsilon", 1e-5), tied=bool(d.get("tie_word_embeddings", False)),
        rotary_dim=d["rotary_dim"], rope={"rope_type": "default", "rope_theta": 10000.0},
        windows=(None,) * d["n_layer"], mlp_bias=True, parallel_residual=True)


def _opt(d: dict) -> ModelConfig:
    C, nh = d["hidden_size"], d["num_attention_heads"]
    pre = bool(d.get("do_layer_norm_before", True))
    proj = d.get("word_embed_proj_dim") or C
    bias = bool(d.get("enable_bias", True))
    return ModelConfig(
        family="opt", model_type="opt", n_layer=d["num_hidden_layers"], n_head=nh, n_kv_head=nh,
        head_dim=C // nh, n_embd=C, vocab_size=d["vocab_size"], block_size=d.get("max_position_embeddings", 2048),
        positions="learned", mlp_width=d.get("ffn_dim", 4 * C),
        activation=_require_act(d.get("activation_function", "relu")), norm_eps=1e-5,
        tied=bool(d.get("tie_word_embeddings", True)), windows=(None,) * d["num_hidden_layers"],
        qkv_bias=bias, out_bias=bias, mlp_bias=bias, post_ln=not pre,
        final_norm=pre and not d.get("_remove_final_layer_norm", False),
        norm_affine=bool(d.get("layer_norm_elementwise_affine", True)),
        word_embed_proj_dim=proj if proj != C else 0, pos_offset=2)


_READERS = {"gpt2": _gpt2, "gpt_neox": _gpt_neox, "llama": _llama, "gpt_neo": _gpt_neo, "gemma": _gemma, "phi": _phi,
            "gptj": _gptj, "opt": _opt}
