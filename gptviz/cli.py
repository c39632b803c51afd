"""Command line: `gptviz [CHECKPOINT]` (the app), `gptviz inspect` (headless), `gptviz train`, `gptviz timeline`.

Any failure exits with code 2 and one line on stderr starting `error:`; never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

SUBCOMMANDS = ("inspect", "train", "timeline")


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, code 2, as every other failure
        raise _Fail(f"{self.prog}: {message}")


class _Fail(Exception):
    pass


def _gui_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gptviz", description="Look inside GPT-style language models as you type. "
                "Subcommands: `gptviz inspect --help`, `gptviz train --help`, `gptviz timeline --help`.")
    p.add_argument("checkpoint", nargs="?", help="HF folder/file/model id, nanoGPT ckpt.pt or gptviz .safetensors "
                   "(default: the embedded model)")
    p.add_argument("--prompt", default=None, help="initial prompt text")
    p.add_argument("--screenshot", metavar="PNG", help="render the window for --prompt, save it and exit")
    p.add_argument("--export-timeline", metavar="OUT", help="FOLDER of training snapshots: write the Timeline's "
                   "plots for --prompt (.png, .svg) or its numbers (.csv) and exit; no display needed")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when available)")
    p.add_argument("--dtype", default=None, choices=("fp32", "bf16", "fp16"),
                   help="hold the weights in this dtype (default fp32, also for bf16 files: exact parity)")
    return p


def _inspect_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gptviz inspect", description="Run a model on a prompt without the GUI.")
    p.add_argument("--model", default=None, help="checkpoint path or HF model id (default: the embedded model)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--prepend-bos", action="store_true", help="start with <|endoftext|>")
    p.add_argument("--json", action="store_true", help="print tokens and top-k as JSON")
    p.add_argument("--out", metavar="FILE.npz", help="write token ids, logits, attention and norms")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when available)")
    p.add_argument("--dtype", default=None, choices=("fp32", "bf16", "fp16"),
                   help="hold the weights in this dtype (default fp32, also for bf16 files: exact parity)")
    p.add_argument("--ablate", metavar="L.H[,L.H...]", help="ablate these heads (layer.head, from 0): their output "
                   "before the output projection is zeroed or, with --ablate-mode mean, set to its mean over the prompt")
    p.add_argument("--ablate-mlp", metavar="L[,L...]", help="ablate these layers' MLP outputs")
    p.add_argument("--ablate-mode", default="zero", choices=("zero", "mean"),
                   help="zero, or the mean over the prompt's positions (default zero)")
    p.add_argument("--attribution", metavar="TOKEN", help="direct logit attribution of this next token at the last "
                   "position: 'top' (the most likely), a token id, or text that is exactly one token (e.g. ' Paris')")
    return p


def _attribution_token(m, tr, spec: str) -> int:
    import numpy as np
    if spec == "top":
        return int(np.argmax(tr.next_token_probs()))
    if spec.strip().isdigit():
        return int(spec)
    ids = m.tokenizer.encode(spec)
    if len(ids) != 1:
        raise _Fail(f"--attribution {spec!r} is {len(ids)} tokens; give one token, a token id or 'top'")
    return ids[0]


def _print_attribution(a, m) -> None:
    print(f"direct logit attribution of {m.tokenizer.piece(a.token).text!r} [{a.token}] at position {a.position}: "
          f"logit {a.logit:.4f} = parts {a.total:.4f} (final norm scale frozen at {a.norm_scale:.4f})")
    parts = [("embeddings", a.embed), ("biases", a.bias + float(a.attn_bias.sum()))]
    parts += [(f"L{l}.H{h}", float(a.heads[l, h])) for l in range(a.heads.shape[0]) for h in range(a.heads.shape[1])]
    parts += [(f"MLP{l}", float(v)) for l, v in enumerate(a.mlps)]
    for name, v in sorted(parts, key=lambda t: -abs(t[1]))[:10]:
        print(f"  {v:+9.4f}  {name}")


def _train_parser() -> argparse.ArgumentParser:
    from .training.config import add_arguments
    p = _Parser(prog="gptviz train", description="Train a GPT-2-architecture model on text files.")
    add_arguments(p)
    return p


def _timeline_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gptviz timeline", description="Score every snapshot of a training run on one prompt: "
                "loss, and the best previous-token and induction heads.")
    p.add_argument("folder", help="snapshots (gptviz train --snapshot-every), Hugging Face checkpoint-*/ "
                   "folders, nanoGPT checkpoints, or a Hugging Face cache entry with step revisions")
    p.add_argument("--prompt", required=True, help="text to score (repeat a phrase in it to see induction)")
    p.add_argument("--prepend-bos", action="store_true", help="start with <|endoftext|>")
    p.add_argument("--json", action="store_true", help="one JSON object per snapshot, with every head's scores")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when available)")
    return p


def timeline(a) -> int:
    from .checkpoints.snapshots import find_snapshots
    from .timeline import HEADER, format_line, iter_timeline
    snaps = find_snapshots(a.folder)          # a folder without snapshots fails before any output
    for i, p in enumerate(iter_timeline(a.folder, a.prompt, a.device, a.prepend_bos, snaps)):
        if a.json:
            print(json.dumps(p.to_json(), ensure_ascii=False), flush=True)
            continue
        if i == 0:
            for w in p.scores.warnings:
                print(f"warning: {w}")
            if p.scores.best("induction") is None:
                print("warning: no token of the prompt occurs twice, so no head has an induction score")
            print(f"{len(snaps)} snapshots, prompt of {p.scores.n_tokens} tokens; loss in nats, "
                  "head scores: mean attention on the previous token / on the token after an earlier occurrence")
            print(HEADER)
        print(format_line(p), flush=True)
    return 0


def inspect(a) -> int:
    import numpy as np
    from .analysis.probabilities import top_k
    from .api import open_model
    if a.top_k < 1:
        raise _Fail("--top-k must be at least 1")
    if not math.isfinite(a.temperature) or a.temperature < 0:   # NaN compares false with everything
        raise _Fail(f"--temperature must be a finite number >= 0 (0 is greedy), got {a.temperature}")
    from .core.interventions import parse_heads, parse_layers
    # the spelling of the specs is checked before anything loads; their ranges once the model has
    heads, mlps = [], []
    for flag, spec, parse, into in (("--ablate", a.ablate, parse_heads, heads),
                                    ("--ablate-mlp", a.ablate_mlp, parse_layers, mlps)):
        try:
            into.extend(parse(spec) if spec is not None else [])
        except ValueError as e:
            raise _Fail(f"{flag}: {e}") from None
    m = open_model(a.model, device=a.device, dtype=a.dtype)
    tr = m.trace(a.prompt, prepend_bos=a.prepend_bos, ablate=heads, ablate_mlp=mlps, mode=a.ablate_mode)
    attribution = None
    if a.attribution is not None:
        if not tr.T:
            raise _Fail("--attribution: the prompt has no tokens")
        attribution = tr.logit_attribution(_attribution_token(m, tr, a.attribution))
    warnings = list(tr.warnings)
    if tr.truncated:
        warnings.append(f"the prompt is {tr.n_prompt_tokens} tokens, longer than the context window: "
                        f"cut to the last {tr.T}")
    top = []
    if tr.T:
        ids, probs = top_k(tr.next_token_probs(a.temperature), a.top_k)
        top = [{"id": int(i), "token": m.tokenizer.decode([int(i)]), "display": m.tokenizer.piece(int(i)).text,
                "prob": float(p)} for i, p in zip(ids, probs)]
    if a.out:
        np.savez(a.out, token_ids=tr.token_ids, logits=tr.logits(),
                 attention=np.stack([tr.attention(layer) for layer in range(m.config.n_layer)]) if tr.T else
                 np.zeros((m.config.n_layer, m.config.n_head, 0, 0), np.float32),
                 token_embedding_norm=tr.token_embedding_norm, position_embedding_norm=tr.position_embedding_norm,
                 input_norm=tr.input_norm)
    if a.json:
        out = {"model": m.name, "tokens": [{"id": t.id, "text": t.text, "bytes": t.bytes.hex()} for t in tr.tokens],
               "truncated": tr.truncated, "top_k": top, "warnings": warnings}
        if tr.ablation is not None:
            out["ablation"] = {"heads": [list(h) for h in tr.ablation.heads], "mlps": list(tr.ablation.mlps),
                               "mode": tr.ablation.mode}
        if attribution is not None:
            out["attribution"] = {**attribution.to_json(), "token_text": m.tokenizer.piece(attribution.token).text}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(m.describe())
        for w in warnings:
            print(f"warning: {w}")
        print(f"{tr.T} tokens" + (f" (last {tr.T} of {tr.n_prompt_tokens})" if tr.truncated else "") + ":")
        print("  " + " | ".join(f"{t.text} [{t.id}]" for t in tr.tokens))
        print(f"next token (temperature {a.temperature}):")
        if tr.ablation is not None:
            print(tr.ablation.describe())
        for t in top:
            print(f"  {t['prob'] * 100:6.2f}%  {t['display']!s:<20} [{t['id']}]")
        if attribution is not None:
            _print_attribution(attribution, m)
    return 0


def gui(a) -> int:
    try:
        from .ui.app import run_app
    except ImportError as e:
        raise _Fail(f"the desktop app needs PySide6 and pyqtgraph ({e})") from None
    return run_app(checkpoint=a.checkpoint, prompt=a.prompt, screenshot=a.screenshot, device=a.device,
                   dtype=a.dtype, export_timeline=a.export_timeline)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] == "inspect":
            return inspect(_inspect_parser().parse_args(argv[1:]))
        if argv and argv[0] == "train":
            from .training.config import TrainConfig
            from .training.train import train
            train(TrainConfig.from_args(_train_parser().parse_args(argv[1:])))
            return 0
        if argv and argv[0] == "timeline":
            return timeline(_timeline_parser().parse_args(argv[1:]))
        return gui(_gui_parser().parse_args(argv))
    except SystemExit as e:      # --help exits 0 through argparse
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    except _Fail as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:       # every loader error is a ValueError/OSError with a clear message
        msg = " ".join(str(e).split()) or type(e).__name__
        if not isinstance(e, (ValueError, OSError)):
            msg = f"{type(e).__name__}: {msg}"
        print(f"error: {msg}", file=sys.stderr)
        return 2


def entry() -> None:
    sys.exit(main())
