"""TrainConfig: everything `gptviz train` is told, as one dataclass built from the command line in one place.

The flags are generated from the fields (same names with dashes), so a default lives only here. The
loop, data, curricula and probe read this object; string options that need parsing (--repeat-top,
--prev-token-aux, --repeat-ids) are parsed and checked once, when the config is built.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from .prev_token_probe import parse_aux


@dataclass(frozen=True)
class TrainConfig:
    data: list[str] = field(default_factory=list)
    out: str = ""
    name: str | None = None
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 256
    dropout: float = 0.1
    batch_size: int = 16
    steps: int = 1000
    lr: float = 2e-3
    min_lr: float | None = None
    warmup: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    repeat_fraction: float = 0.0
    repeat_natural_fraction: float = 0.0
    repeat_ids: str | None = None
    repeat_top: str | None = None
    repeat_grow: int = 0
    compact_vocab: str = "on"
    vocab_top: int = 0
    init_from: str | None = None
    short_period_fraction: float = 0.5
    prev_token_aux: str | None = None
    eval_interval: int = 100
    eval_windows: int = 32
    save_interval: int = 0
    snapshot_every: int = 0
    snapshot_dir: str | None = None
    dtype: str = "fp32"
    bf16: str = "auto"
    threads: int = 0
    seed: int = 1337
    wpe_init: str = "normal"
    resume: bool = False
    stop_at: int | None = None
    keep_best: str | None = None

    def __post_init__(self) -> None:
        if self.snapshot_every < 0:
            raise ValueError(f"--snapshot-every {self.snapshot_every}: expected N >= 1 (0: no snapshots)")
        self.aux                        # parse now: a malformed flag fails before any file is read
        if self.repeat_top is not None:
            self.repeat_top_range

    @property
    def end_lr(self) -> float:
        """Where the cosine decay ends (default lr/10)."""
        return self.lr / 10 if self.min_lr is None else self.min_lr

    @property
    def snapshot_folder(self) -> str | None:
        """Where --snapshot-every writes: --snapshot-dir, else OUT without .safetensors plus `.snapshots`."""
        if not self.snapshot_every:
            return None
        return self.snapshot_dir or str(self.out).removesuffix(".safetensors") + ".snapshots"

    @property
    def aux(self) -> tuple[float, int]:
        """--prev-token-aux as (weight, fade steps; 0 = constant); (0, 0) without the probe."""
        return parse_aux(self.prev_token_aux)

    @property
    def repeat_top_range(self) -> tuple[int, int]:
        """--repeat-top N[:N_END] as (N, N_END)."""
        try:
            n = [int(x) for x in str(self.repeat_top).split(":")]
        except ValueError:
            n = []
        if len(n) not in (1, 2) or not 2 <= n[0] <= n[-1]:
            raise ValueError(f"--repeat-top {self.repeat_top}: expected N or N:N_END with 2 <= N <= N_END")
        return n[0], n[-1]

    def facts(self) -> dict:
        """The arguments as recorded in the saved file's training facts."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "resume"}

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> "TrainConfig":
        return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)})

    @classmethod
    def from_argv(cls, argv: list[str]) -> "TrainConfig":
        p = argparse.ArgumentParser(prog="gptviz train")
        add_arguments(p)
        return cls.from_args(p.parse_args(argv))


_D = TrainConfig()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="FILE[:WEIGHT]",
                   help="text files; WEIGHT is the sampling weight of that file (default 1)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--name", default=_D.name, help="model name stored in the file (default: the file stem)")
    for flag in ("n_layer", "n_head", "n_embd", "block_size"):
        p.add_argument("--" + flag.replace("_", "-"), type=int, default=getattr(_D, flag))
    p.add_argument("--dropout", type=float, default=_D.dropout)
    p.add_argument("--batch-size", type=int, default=_D.batch_size)
    p.add_argument("--steps", type=int, default=_D.steps)
    p.add_argument("--lr", type=float, default=_D.lr)
    p.add_argument("--min-lr", type=float, default=_D.min_lr, help="end of the cosine decay (default lr/10)")
    p.add_argument("--warmup", type=int, default=_D.warmup)
    p.add_argument("--weight-decay", type=float, default=_D.weight_decay)
    p.add_argument("--grad-clip", type=float, default=_D.grad_clip)
    p.add_argument("--val-fraction", type=float, default=_D.val_fraction)
    p.add_argument("--repeat-fraction", type=float, default=_D.repeat_fraction,
                   help="share of training sequences that are a random span repeated (forms induction heads)")
    p.add_argument("--repeat-natural-fraction", type=float, default=_D.repeat_natural_fraction,
                   help="share of training sequences that are a passage of the training text written twice or more "
                        "(induction on natural text)")
    p.add_argument("--repeat-ids", default=_D.repeat_ids, metavar="LO:HI",
                   help="repeated spans draw token ids from [LO, HI) (default: the whole vocabulary). GPT-2's merged "
                        "ids follow merge rank, roughly frequency, so e.g. 256:1256 keeps to common tokens whose "
                        "embeddings the text trains, which copying needs")
    p.add_argument("--repeat-top", default=_D.repeat_top, metavar="N[:N_END]",
                   help="repeated spans draw from the N most frequent token ids of the training text instead; with "
                        ":N_END the set grows geometrically to N_END over --repeat-grow steps (a curriculum: copying "
                        "is learned fast over few ids, then extended)")
    p.add_argument("--repeat-grow", type=int, default=_D.repeat_grow, metavar="STEPS",
                   help="steps over which the --repeat-top set grows from N to N_END, counted from the step this "
                        "run starts at (the resumed step with --resume)")
    p.add_argument("--compact-vocab", choices=["on", "off"], default=_D.compact_vocab,
                   help="train over only the ids that occur in the training text plus one shared row for the rest; "
                        "the saved model is the exact full-vocabulary equivalent (much faster on a small corpus)")
    p.add_argument("--vocab-top", type=int, default=_D.vocab_top, metavar="N",
                   help="compact vocabulary of only the N most frequent ids (the rest share one row): a curriculum "
                        "stage over few tokens, continued with --init-from")
    p.add_argument("--init-from", default=_D.init_from, metavar="FILE",
                   help="start from the weights of a gptviz .safetensors file of the same shape")
    p.add_argument("--short-period-fraction", type=float, default=_D.short_period_fraction,
                   help="share of repeated spans with periods 2-7 (a previous-token-and-copy circuit forms on them; in a "
                        "2-layer model they also grew a copying head that attends one token past the induction target, "
                        "so 0 is what the README's ten-minute induction run uses)")
    p.add_argument("--prev-token-aux", default=_D.prev_token_aux, metavar="WEIGHT[:FADE_STEPS]",
                   help="auxiliary loss: a training-only probe on block 0's output predicts the previous token, "
                        "which grows a previous-token head fast; the weight fades linearly to 0 over FADE_STEPS "
                        "(counted from the step the probe started at, kept across --resume). The probe is not saved")
    p.add_argument("--eval-interval", type=int, default=_D.eval_interval)
    p.add_argument("--eval-windows", type=int, default=_D.eval_windows,
                   help="held-out windows per file per evaluation")
    p.add_argument("--save-interval", type=int, default=_D.save_interval,
                   help="also save every N steps (0: only at the end)")
    p.add_argument("--snapshot-every", type=int, default=_D.snapshot_every, metavar="N",
                   help="write an fp16 snapshot at step 0, every N steps and at the end, with the step, tokens "
                        "seen and losses in its metadata, for `gptviz timeline` (0: none)")
    p.add_argument("--snapshot-dir", default=_D.snapshot_dir, metavar="DIR",
                   help="folder of the snapshots (default: OUT without .safetensors, plus .snapshots)")
    p.add_argument("--dtype", choices=["fp32", "fp16"], default=_D.dtype, help="dtype of the saved weights")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default=_D.bf16, help="bf16 autocast for the forward")
    p.add_argument("--threads", type=int, default=_D.threads, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=_D.seed)
    p.add_argument("--wpe-init", choices=["normal", "sinusoidal"], default=_D.wpe_init,
                   help="initial position embeddings (they are learned either way)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state.pt")
    p.add_argument("--stop-at", type=int, default=_D.stop_at,
                   help="stop after this many steps, keeping the schedule of --steps (resume later with --resume)")
    p.add_argument("--keep-best", metavar="FILE_NAME", default=_D.keep_best,
                   help="write the weights with the lowest held-out loss on this data file (early stopping)")
