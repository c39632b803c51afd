"""`gptviz train`: train a GPT-2-architecture model on text files and write our .safetensors format.

AdamW with linear warm-up and cosine decay, dropout, a held-out tail of every file, periodic
validation, a progress line with loss / tokens/s / ETA, bf16 autocast on CPUs that support it.
Deterministic given --seed. `--resume` continues from OUT.state.pt (written at every save).
`--snapshot-every N` also writes fp16 snapshots for `gptviz timeline` (training/snapshots.py).
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from ..core.config import GPTConfig
from ..core.model import GPT
from ..core.tokenizer import gpt2_tokenizer
from ..core.unembedding import stored, with_head
from ..checkpoints.native import save_native
from .config import TrainConfig
from .data import Sampler, load_files, val_windows
from .vocab import CompactVocab
from .prev_token_probe import PrevTokenProbe, aux_weight, block0_output
from .snapshots import Snapshots


def lr_at(step: int, a: TrainConfig) -> float:
    min_lr = a.end_lr
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (a.lr - min_lr)


def _bf16_supported() -> bool:
    """bf16 autocast only pays where the CPU has native bf16 dot products (measured 1.7x here)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def step_loss(model: GPT, vocab: CompactVocab | None, x, y, probe: PrevTokenProbe | None = None):
    """Mean next-token loss of the full-vocabulary model; x, y (B, T) full ids (y -1: no loss).
    With a probe, returns (next-token loss, probe loss)."""
    idx = torch.from_numpy(x if vocab is None else vocab.to_compact(x))
    tgt = torch.from_numpy(y if vocab is None else vocab.to_compact(y))
    with block0_output(model) if probe is not None else nullcontext() as h1:
        if vocab is None:
            loss = model(idx, tgt)[1]
        else:
            loss = vocab.loss(model(idx)[0], tgt)                              # logits (B, T, K+1)
    return loss if probe is None else (loss, probe.loss(model, h1[0], idx))


@torch.no_grad()
def evaluate(model: GPT, files, a: TrainConfig, autocast, vocab: CompactVocab | None = None) -> dict[str, float]:
    model.eval()
    out = {}
    for f in files:
        w = val_windows(f.val, a.block_size, a.eval_windows)
        if not len(w):
            continue
        losses = []
        for i in range(0, len(w), a.batch_size):
            chunk = w[i: i + a.batch_size]
            with autocast():
                loss = step_loss(model, vocab, chunk[:, :-1], chunk[:, 1:])
            losses.append(loss.item() * len(chunk))
        out[f.path.name] = sum(losses) / len(w)
    model.train()
    return out


def _progress(step, steps, loss, tps, eta, val):
    bar = "#" * int(30 * step / steps)
    v = " ".join(f"{k.split('.')[0][:12]}={x:.3f}" for k, x in val.items())
    sys.stderr.write(f"\r[{bar:<30}] {step}/{steps} loss {loss:.3f} {tps:,.0f} tok/s ETA {eta/60:.1f} min {v}   ")
    sys.stderr.flush()


def train(a: TrainConfig) -> tuple[GPT, dict]:
    """Train per the config; returns the model in its final state and the facts written."""
    if not isinstance(a, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig (TrainConfig.from_args(namespace)), not {type(a).__name__}")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tok = gpt2_tokenizer()
    files = load_files(a.data, tok, a.val_fraction, a.block_size)
    cfg = GPTConfig(n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size,
                    vocab_size=tok.n_vocab, dropout=a.dropout, activation="gelu_tanh")
    all_train = np.concatenate([f.train for f in files])
    vocab = _compact_vocab(a, tok, all_train)
    model = GPT(cfg if vocab is None else dataclasses.replace(cfg, vocab_size=vocab.size))
    model.init_weights(a.seed, wpe=a.wpe_init)
    if a.init_from:
        _init_from(model, a.init_from, cfg, vocab, a.seed)
    aux_w, aux_fade = a.aux
    probe = PrevTokenProbe(cfg.n_embd) if aux_w > 0 else None
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if probe is not None:
        groups.append({"params": list(probe.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.95))
    sampler = Sampler(files, a.block_size, _repeat_pool(a, tok, all_train, vocab), a.repeat_fraction, a.seed,
                      a.short_period_fraction, a.repeat_natural_fraction)
    use_bf16 = a.bf16 == "on" or (a.bf16 == "auto" and _bf16_supported())
    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16)

    out = Path(a.out)
    state_path = out.with_name(out.name + ".state.pt")
    step, tokens_seen, elapsed = 0, 0, 0.0
    aux_from = 0                    # the probe's fade counts from the step it started at, across --resume
    history = []
    best = math.inf
    if a.resume and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        if probe is not None:
            if "probe" not in st:
                raise ValueError("--resume with --prev-token-aux: the saved state was trained without it")
            probe.load_state_dict(st["probe"])
            aux_from = st.get("aux_from", 0)
        opt.load_state_dict(st["optim"])
        step, tokens_seen, elapsed = st["step"], st["tokens_seen"], st["elapsed"]
        history = st["history"]
        best = st.get("best", math.inf)
        torch.set_rng_state(st["torch_rng"])
        sampler.rng.bit_generator.state = st["numpy_rng"]
        print(f"resumed at step {step}", file=sys.stderr)

    def full_state():
        return model.state_dict() if vocab is None else vocab.expand(model.state_dict())

    def facts_now(final: bool, val: dict[str, float]) -> dict:
        return {
            "data": [{"file": f.path.name, "sha256": f.sha256, "weight": f.weight,
                      "train_tokens": int(len(f.train)), "val_tokens": int(len(f.val))} for f in files],
            "steps": step, "tokens_seen": tokens_seen, "seconds": round(elapsed, 1),
            "final_train_loss": history[-1]["train"] if history else None, "val_loss": val,
            "args": a.facts(),
            "history": history, "bf16": use_bf16, "finished": final,
            "selected_by": f"lowest held-out loss on {a.keep_best}" if a.keep_best else "last step",
        }

    def save(final: bool, val: dict[str, float]):
        facts = facts_now(final, val)
        dtype = torch.float16 if a.dtype == "fp16" else torch.float32
        tmp = out.with_name(out.name + ".tmp")
        save_native(tmp, full_state(), cfg, tok, a.name or out.stem, dtype=dtype, extra={"training": facts})
        tmp.replace(out)
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "tokens_seen": tokens_seen,
                    "elapsed": elapsed, "history": history, "best": best, "torch_rng": torch.get_rng_state(),
                    "numpy_rng": sampler.rng.bit_generator.state,
                    **({"probe": probe.state_dict(), "aux_from": aux_from} if probe is not None else {})}, state_path)
        return facts

    snaps = Snapshots(a, cfg, tok, a.name or out.stem)
    if snaps.on and step == 0:                  # the untrained start: the timeline's baseline
        snaps.write(0, model.state_dict(), facts_now(False, evaluate(model, files, a, autocast, vocab)), None, vocab)
    first_step = step               # --repeat-grow counts from where this run (or resumed phase) starts
    model.train()
    ema = aux_ema = None
    val: dict[str, float] = {}
    last = a.steps if a.stop_at is None else min(a.steps, a.stop_at)
    while step < last:
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        sampler.repeat_n = repeat_pool_size(a, step - first_step, len(sampler.repeat_ids))
        x, y = sampler.batch(a.batch_size)
        w = aux_weight(aux_w, aux_fade, step - aux_from) if probe is not None else 0.0
        with autocast():
            if w > 0:
                loss, aux = step_loss(model, vocab, x, y, probe)
                aux_ema = aux.item() if aux_ema is None else 0.9 * aux_ema + 0.1 * aux.item()
                total = loss + w * aux
            else:
                loss = total = step_loss(model, vocab, x, y)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if a.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        step += 1
        tokens_seen += x.size
        elapsed += time.perf_counter() - t0
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step % a.eval_interval == 0 or step == last:
            val = evaluate(model, files, a, autocast, vocab)
            history.append({"step": step, "train": round(ema, 4), **{k: round(v, 4) for k, v in val.items()},
                            **({"prev_token_aux": round(aux_ema, 4), "aux_weight": round(w, 4)} if w > 0 else {})})
            if a.keep_best and val.get(a.keep_best, math.inf) < best:
                best = val[a.keep_best]
                facts = save(final=step == a.steps, val=val)
        if snaps.due(step, last):
            v = val if step % a.eval_interval == 0 or step == last else evaluate(model, files, a, autocast, vocab)
            snaps.write(step, model.state_dict(), facts_now(step == a.steps, v), ema, vocab)
        if not a.keep_best and a.save_interval and step % a.save_interval == 0 and step < last:
            save(final=False, val=evaluate(model, files, a, autocast, vocab))
        tps = tokens_seen / max(elapsed, 1e-9)
        _progress(step, a.steps, ema, tps, (a.steps - step) * elapsed / max(step, 1), val)
    sys.stderr.write("\n")
    if not a.keep_best:
        facts = save(final=step == a.steps, val=evaluate(model, files, a, autocast, vocab))
    print(f"wrote {out}: {cfg.n_params():,} parameters, {tokens_seen:,} tokens, "
          f"train loss {facts['final_train_loss']}, val {facts['val_loss']}")
    if vocab is not None:
        full = GPT(cfg)
        full.load_state_dict(full_state())
        model = full.train(model.training)
    return model, facts


def _compact_vocab(a: TrainConfig, tok, all_train: np.ndarray) -> CompactVocab | None:
    if a.compact_vocab == "off":
        if a.vocab_top:
            raise ValueError("--vocab-top needs --compact-vocab on")
        return None
    if not a.vocab_top:
        return CompactVocab(np.append(all_train, tok.eot_id), tok.n_vocab)
    return CompactVocab(_most_frequent(all_train, tok.n_vocab, a.vocab_top), tok.n_vocab)


def _most_frequent(ids: np.ndarray, n_vocab: int, n: int) -> np.ndarray:
    """Up to n ids that occur in `ids`, most frequent first, ties by id."""
    counts = np.bincount(ids, minlength=n_vocab)
    top = np.lexsort((np.arange(n_vocab), -counts))[:n]
    return top[counts[top] > 0]


def _init_from(model: GPT, path: str, cfg: GPTConfig, vocab: CompactVocab | None, seed: int) -> None:
    """Start from a gptviz file of the same shape. Embedding rows that are one shared row (the ids a
    compact-vocabulary run never trained) are drawn afresh from the trained rows' per-dimension mean and
    spread: distinct (so they can be told apart and copied), and where the trained circuits read tokens
    (measured on the built-in model before any training: a repeated span of such ids costs 3.8 nats on its
    second copy against 13.7 on its first; the default 0.02-normal init leaves them near the origin)."""
    from ..checkpoints.native import load_native
    ck = load_native(Path(path))
    if (ck.config.n_layer, ck.config.n_head, ck.config.n_embd, ck.config.block_size, ck.config.vocab_size) != \
            (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size):
        raise ValueError(f"--init-from {path}: its shape {ck.config} differs from this run's")
    state = {k: v.float() for k, v in ck.state_dict.items()}
    wte = state["transformer.wte.weight"]                                   # (V, C)
    rows, inverse, counts = torch.unique(wte, dim=0, return_inverse=True, return_counts=True)
    shared = counts.max() > 1
    trained = (counts[inverse] == 1) if shared else torch.ones(len(wte), dtype=torch.bool)
    fresh = model.state_dict()["transformer.wte.weight"]                     # (V or K+1, C)
    if shared:
        done = wte[trained]                                                 # (n_trained, C)
        g = torch.Generator().manual_seed(seed)
        fresh = done.mean(0) + torch.randn(fresh.shape, generator=g) * done.std(0)
    if vocab is not None:                                                   # this run's rows, in compact order
        used = torch.from_numpy(vocab.used)
        keep = torch.cat([trained[used], torch.tensor([bool(shared)])])
        src = torch.cat([wte[used], rows[counts.argmax()][None] if shared else fresh[-1:]])
    else:
        keep, src = trained, wte
    state["transformer.wte.weight"] = torch.where(keep[:, None], src, fresh)
    state = with_head(stored(state, cfg.tie_word_embeddings), cfg.tie_word_embeddings)   # lm_head: the new wte
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"--init-from {path}: weights do not match this model ({(missing + unexpected)[:3]})")
    print(f"initialised from {path}: {int(keep.sum())} of {len(keep)} embedding rows taken", file=sys.stderr)


def repeat_pool_size(a: TrainConfig, step: int, pool_len: int) -> int:
    """How many of the pool's ids (most frequent first) repeated spans draw from at this step."""
    if a.repeat_top is None:
        return pool_len
    n0, n1 = a.repeat_top_range
    grow = min(1.0, step / a.repeat_grow) if a.repeat_grow > 0 else 1.0
    return max(2, min(pool_len, round(n0 * (n1 / n0) ** grow)))


def _repeat_pool(a: TrainConfig, tok, all_train: np.ndarray, vocab: CompactVocab | None) -> np.ndarray:
    """The ids repeated spans draw from: --repeat-top N frequent ids, --repeat-ids LO:HI, or every id."""
    if a.repeat_top is not None and a.repeat_ids:
        raise ValueError("give --repeat-top or --repeat-ids, not both")
    if a.repeat_top is not None:
        return _most_frequent(all_train, tok.n_vocab, a.repeat_top_range[1])
    lo, hi = (int(x) for x in a.repeat_ids.split(":")) if a.repeat_ids else (0, tok.eot_id)
    if not 0 <= lo < hi <= tok.eot_id:
        raise ValueError(f"--repeat-ids {a.repeat_ids} must satisfy 0 <= LO < HI <= {tok.eot_id}")
    pool = np.arange(lo, hi)
    if vocab is not None and a.repeat_fraction > 0:
        pool = pool[vocab.lut[pool] < vocab.K]          # ids absent from the text share one row: not copyable
        if len(pool) < 2:
            raise ValueError(f"--repeat-ids {a.repeat_ids}: fewer than 2 of these ids occur in the training text")
    return pool
