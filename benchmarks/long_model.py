"""A random rotary (Llama-shaped) checkpoint with a long context and a small BPE tokenizer.json, saved by
transformers and the tokenizers library, for the long-prompt GUI figures (2,048 and 8,192 tokens).

Shape (LONG): 4 layers, hidden 128, 4 heads, 2 KV heads (GQA), head 32, intermediate 344, RoPE theta 10^6,
max_position_embeddings 32,768, vocabulary 2,000 trained on the benchmark's own words. Far smaller than
Qwen2.5-0.5B (24 layers, 14 heads, hidden 896) so 8,192 tokens stay measurable on 2 cores; the same kind of
attention (rotary, GQA, explicit T x T patterns).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

NAME = "Llama-shaped, 4 layers x 4 heads (2 KV), hidden 128, rotary"
LONG = dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=344, max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
            tie_word_embeddings=True)
WORDS = ["time", "little", "house", "river", "said", "happy", "green", "stone", "quiet", "over", "under",
         "bright", "window", "garden", "morning", "friend", "the", "a", "of", "and", "was", "she", "he"]


def long_model(seed: int = 0) -> Path:
    import numpy as np
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM
    folder = Path(tempfile.mkdtemp(prefix="gptviz-bench-long-"))
    rng = np.random.default_rng(seed)
    corpus = [" ".join(rng.choice(WORDS, 40)) + "." for _ in range(400)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), bos_token_id=0, eos_token_id=0, **LONG)
    LlamaForCausalLM(cfg).eval().save_pretrained(folder, safe_serialization=True)
    return folder
