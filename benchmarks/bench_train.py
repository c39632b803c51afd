"""Training-step speed: compact vocabulary (ids in the text + one shared row) vs the full 50,257-row softmax.

Same model shape, same batches, same machine, alternated; prints tokens/s of each and the ratio.
Usage: python benchmarks/bench_train.py [--data FILE...] [--n-layer 4 --n-head 6 --n-embd 192]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import alternate                       # noqa: E402
from gptviz.core.config import GPTConfig                       # noqa: E402
from gptviz.core.model import GPT                              # noqa: E402
from gptviz.core.tokenizer import gpt2_tokenizer               # noqa: E402
from gptviz.training.train import step_loss                             # noqa: E402
from gptviz.training.vocab import CompactVocab                    # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+", default=sorted(str(f) for f in CORPUS.glob("*.txt")))
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=256)
    a = p.parse_args()
    torch.manual_seed(0)
    tok = gpt2_tokenizer()
    ids = np.concatenate([tok.enc.encode_ordinary(Path(f).read_text(encoding="utf-8")) for f in a.data])
    vocab = CompactVocab(np.append(ids, tok.eot_id), tok.n_vocab)
    cfg = GPTConfig(n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size,
                    vocab_size=tok.n_vocab, dropout=0.0)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(ids) - a.block_size - 1, a.batch_size)
    chunk = np.stack([ids[s: s + a.block_size + 1] for s in starts])
    x, y = chunk[:, :-1], chunk[:, 1:]

    def stepper(model, v):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = step_loss(model, v, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    full = GPT(cfg)
    full.init_weights(0)
    compact = GPT(dataclasses.replace(cfg, vocab_size=vocab.size))
    compact.init_weights(0)
    t = alternate({"full": stepper(full, None), "compact": stepper(compact, vocab)}, reps=5)
    n = x.size
    print(f"{len(ids):,} tokens of text use {vocab.K:,} of {tok.n_vocab:,} ids; shape {a.n_layer}L x {a.n_head}H x "
          f"{a.n_embd}, batch {a.batch_size} x {a.block_size}")
    print(f"full vocabulary:    {t['full']*1e3:7.0f} ms/step  {n / t['full']:8,.0f} tok/s")
    print(f"compact vocabulary: {t['compact']*1e3:7.0f} ms/step  {n / t['compact']:8,.0f} tok/s")
    print(f"compact / full step time: {t['compact'] / t['full']:.3f}x")


if __name__ == "__main__":
    main()
