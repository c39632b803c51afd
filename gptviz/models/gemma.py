"""Gemma (v1), as transformers' GemmaForCausalLM computes it.

Gemma is a Llama block (llama.py: RMSNorm, rotary on every head, GQA, the same module names) with
three differences, each a flag there:
- the token embedding is multiplied by sqrt(n_embd), as the original Transformer did, with the
  factor first rounded to the model's dtype (transformers does so; it matters in bf16);
- RMSNorm stores w as an offset and scales by (1 + w), computed in fp32 before the cast back;
- the MLP is GeGLU: down(gelu_tanh(gate x) * up x) (config.json's hidden_act / hidden_activation,
  plain "gelu" meaning the tanh form, as GemmaConfig maps it).
The unembedding is tied to the embedding by default; head_dim is explicit (256 in Gemma-2B/7B).
"""
from __future__ import annotations

from .llama import Llama


class Gemma(Llama):
    PLUS_ONE = True
    EMBED_SCALE = True
