"""Training snapshots (--snapshot-every), finding them in a folder (ours, Hugging Face checkpoint-*/,
nanoGPT out/, a HF cache entry's step revisions), and the timeline's scores: against a reference forward
written from the architecture (tests/reference.py), numpy loops, and transformers' own loss and attention."""
import json
import pickle

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import gptviz
from gptviz.checkpoints.errors import CheckpointError
from gptviz.checkpoints.native import ROWS, load_native
from gptviz.checkpoints.snapshots import find_snapshots
from gptviz.cli import main
from gptviz.core.tokenizer import gpt2_tokenizer
from gptviz.timeline import iter_timeline, prompt_loss
from gptviz.training.config import TrainConfig
from gptviz.training.train import train
from tests.reference import make_hf_model, nanogpt_state, reference_forward

STEPS, EVERY, BATCH, BLOCK = 300, 100, 8, 32


def _span(seed=1, n=16):
    return np.random.default_rng(seed).integers(300, 800, n).tolist()


PROMPT_IDS = _span() * 2                                   # 32 tokens: a random span, then the same span again
PROMPT = gpt2_tokenizer().decode(PROMPT_IDS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained with --snapshot-every on random BPE pieces, with the previous-token probe."""
    d = tmp_path_factory.mktemp("run")
    data = d / "noise.txt"
    data.write_text(gpt2_tokenizer().decode(np.random.default_rng(0).integers(300, 800, 8000).tolist()),
                    encoding="utf-8")
    out = d / "tiny.safetensors"
    argv = ["--data", str(data), "--out", str(out), "--n-layer", "2", "--n-head", "2", "--n-embd", "64",
            "--block-size", str(BLOCK), "--batch-size", str(BATCH), "--steps", str(STEPS), "--eval-interval", "50",
            "--warmup", "5", "--lr", "5e-3", "--eval-windows", "4", "--dropout", "0", "--seed", "3", "--bf16", "off",
            "--prev-token-aux", "1", "--snapshot-every", str(EVERY)]
    _, facts = train(TrainConfig.from_argv(argv))
    assert PROMPT_IDS == gpt2_tokenizer().encode(PROMPT)   # the prompt tokenizes back to the span
    return out, d / "tiny.snapshots", facts


def test_snapshots_written_with_their_facts(run):
    out, folder, facts = run
    steps = list(range(0, STEPS + 1, EVERY))
    assert sorted(p.name for p in folder.iterdir()) == [f"step-{s:06d}.safetensors" for s in steps]
    for s in steps:
        with safe_open(str(folder / f"step-{s:06d}.safetensors"), "pt") as f:
            meta = json.loads(f.metadata()["snapshot"])
            assert all(f.get_slice(k).get_dtype() == ("I32" if k == ROWS else "F16") for k in f.keys())
        assert meta["step"] == s and meta["tokens_seen"] == s * BATCH * BLOCK
        assert set(meta["val_loss"]) == {"noise.txt"} and (meta["train_loss"] is None) == (s == 0)
        if s and s % 50 == 0:                              # an evaluation step: the history's numbers
            h = next(h for h in facts["history"] if h["step"] == s)
            assert meta["train_loss"] == h["train"] and meta["val_loss"]["noise.txt"] == h["noise.txt"]
    assert json.loads(safe_open(str(folder / "step-000000.safetensors"), "pt").metadata()["snapshot"]
                      )["val_loss"]["noise.txt"] == pytest.approx(np.log(50257), abs=0.5)   # untrained: ~uniform
    final, last = load_native(out), load_native(folder / f"step-{STEPS:06d}.safetensors")
    assert set(final.state_dict) == set(last.state_dict) and last.config == final.config
    for k, v in final.state_dict.items():                  # the last snapshot is the final model, in fp16
        np.testing.assert_array_equal(v.half().float().numpy(), last.state_dict[k].numpy(), err_msg=k)
    wte = final.state_dict["transformer.wte.weight"].numpy()                       # (V, C)
    with safe_open(str(folder / f"step-{STEPS:06d}.safetensors"), "pt") as f:     # only the distinct rows stored
        assert f.get_slice("transformer.wte.weight").get_shape() == [len(np.unique(wte, axis=0)), 64]


def test_previous_token_score_rises_across_the_run(run):
    points = list(iter_timeline(run[1], PROMPT))
    assert [p.snapshot.step for p in points] == list(range(0, STEPS + 1, EVERY))
    prev = [p.scores.best("prev")[2] for p in points]
    assert prev[-1] > prev[0] + 0.3, prev                  # the probe grows a previous-token head
    assert prev[0] < 0.2, prev                             # at init no head picks out the previous token
    assert points[-1].scores.loss < points[0].scores.loss - 2, [p.scores.loss for p in points]


def _numpy_scores(att, ids):
    """prev and induction of each head from plain loops over (H, T, T) attention."""
    H, T, _ = att.shape
    prev = np.array([np.mean([att[h, t, t - 1] for t in range(1, T)]) for h in range(H)])
    ind = []
    for h in range(H):
        per_query = [sum(att[h, t, j + 1] for j in range(t) if ids[j] == ids[t])
                     for t in range(T) if any(ids[j] == ids[t] for j in range(t))]
        ind.append(np.mean(per_query))
    return prev, np.array(ind)


def test_scores_equal_a_reference_forward_of_the_snapshot(run):
    path = run[1] / "step-000200.safetensors"
    with safe_open(str(path), "pt") as f:
        sd = {k: f.get_tensor(k).float() for k in f.keys() if k != ROWS}
        sd["transformer.wte.weight"] = sd["transformer.wte.weight"][f.get_tensor(ROWS).long()]   # (V, C)
    logits, atts = reference_forward(sd, 2, 2, torch.tensor(PROMPT_IDS), gelu_approx="tanh")
    (point,) = iter_timeline(run[1], PROMPT, snapshots=[s for s in find_snapshots(run[1]) if s.step == 200])
    s = point.scores
    ref_loss = torch.nn.functional.cross_entropy(logits[:-1].double(), torch.tensor(PROMPT_IDS[1:])).item()
    assert s.loss == pytest.approx(ref_loss, abs=1e-4)
    for layer, a in enumerate(atts):
        prev, ind = _numpy_scores(a.double().numpy(), PROMPT_IDS)
        np.testing.assert_allclose(s.prev[layer], prev, atol=1e-5)
        np.testing.assert_allclose(s.induction[layer], ind, atol=1e-5)
    flat = int(np.argmax(s.prev))
    assert s.best("prev") == (flat // 2, flat % 2, pytest.approx(s.prev.max()))


@pytest.mark.parametrize("rows, expect", [(lambda r: r.clamp(max=0) + 10 ** 6, "points outside"),
                                           (lambda r: r[:-1], "has shape"), (lambda r: r.float(), "not an integer")])
def test_hostile_vocab_rows_are_refused(run, tmp_path, rows, expect):
    src = run[1] / "step-000100.safetensors"
    with safe_open(str(src), "pt") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    tensors[ROWS] = rows(tensors[ROWS])
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match=expect):
        gptviz.load(str(tmp_path / "bad.safetensors"))


def test_prompt_loss_is_cross_entropy():
    rng = np.random.default_rng(0)
    logits, ids = rng.normal(size=(5, 7)).astype(np.float32) * 3, rng.integers(0, 7, 5)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert prompt_loss(logits, ids) == pytest.approx(-np.mean(np.log(p[np.arange(4), ids[1:]])), rel=1e-6)


def test_hugging_face_trainer_checkpoints(tmp_path):
    ids = PROMPT_IDS
    models = {}
    for step, seed in ((20, 2), (10, 1)):
        models[step] = make_hf_model(n_layer=2, n_head=4, n_embd=32, seed=seed)
        models[step].save_pretrained(tmp_path / f"checkpoint-{step}")
    (tmp_path / "checkpoint-5").mkdir()                    # no weights: not a snapshot
    (tmp_path / "runs").mkdir()
    snaps = find_snapshots(tmp_path)
    assert [(s.step, s.path.name, s.fmt) for s in snaps] == [(10, "checkpoint-10", "hf"), (20, "checkpoint-20", "hf")]
    for p in iter_timeline(tmp_path, PROMPT):
        with torch.no_grad():
            r = models[p.snapshot.step](torch.tensor([ids]), labels=torch.tensor([ids]), output_attentions=True)
        assert p.scores.loss == pytest.approx(r.loss.item(), abs=1e-4)
        for layer, a in enumerate(r.attentions):
            prev, ind = _numpy_scores(a[0].double().numpy(), ids)
            np.testing.assert_allclose(p.scores.prev[layer], prev, atol=1e-5)
            np.testing.assert_allclose(p.scores.induction[layer], ind, atol=1e-5)


def _nanogpt(path, sd, args, iter_num):
    torch.save({"model": sd, "model_args": args, "iter_num": iter_num, "best_val_loss": torch.tensor(2.0),
                "config": {"batch_size": 12}}, path)


def test_nanogpt_out_folder(tmp_path):
    chars = sorted(set("abcdefgh ."))
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)),
                     "stoi": {c: i for i, c in enumerate(chars)}}, f)
    states = {}
    for it, seed in ((250, 1), (1000, 2)):
        states[it] = nanogpt_state(n_layer=2, n_head=2, n_embd=16, block_size=32, vocab_size=len(chars), seed=seed)
    _nanogpt(out / "ckpt_250.pt", *states[250], 250)
    _nanogpt(out / "ckpt.pt", *states[1000], 1000)         # the newest, named only by its iter_num
    _nanogpt(out / "ckpt_1000.pt", *states[1000], 1000)    # ...and a copy of it named by step: counted once
    torch.save({"step": 3}, out / "notes.pt")              # a torch file that is no checkpoint
    snaps = find_snapshots(out)
    assert [(s.step, s.path.name, s.fmt) for s in snaps] == [(250, "ckpt_250.pt", "nanogpt"),
                                                             (1000, "ckpt_1000.pt", "nanogpt")]
    text = "abc defg. abc defg."
    ids = [chars.index(c) for c in text]
    for p in iter_timeline(out, text):
        sd, args = states[p.snapshot.step]
        logits, atts = reference_forward(sd, 2, 2, torch.tensor(ids))
        ref = torch.nn.functional.cross_entropy(logits[:-1].double(), torch.tensor(ids[1:])).item()
        assert p.scores.loss == pytest.approx(ref, abs=1e-4)
        np.testing.assert_allclose(p.scores.prev[1], _numpy_scores(atts[1].double().numpy(), ids)[0], atol=1e-5)


def test_hugging_face_cache_step_revisions(tmp_path):
    repo = tmp_path / "models--org--tiny"
    for i, (rev, seed) in enumerate((("step2000", 1), ("step500", 2), ("main", 2))):
        commit = f"{i + 1:040x}"
        make_hf_model(n_layer=1, n_head=2, n_embd=16, seed=seed).save_pretrained(repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / rev).write_text(commit)
    snaps = find_snapshots(repo)
    assert [(s.step, s.path.name) for s in snaps] == [(500, f"{2:040x}"), (2000, f"{1:040x}")]


def test_cli_json_one_line_per_snapshot(run, capsys):
    assert main(["timeline", str(run[1]), "--prompt", PROMPT, "--json", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == STEPS // EVERY + 1
    rows = [json.loads(x) for x in lines]
    assert [r["step"] for r in rows] == list(range(0, STEPS + 1, EVERY))
    for r in rows:
        prev = np.array(r["prev_token"])                   # (L, H)
        assert prev.shape == (2, 2) and np.array(r["induction"]).shape == (2, 2)
        assert r["best_prev_token_score"] == prev.max()
        assert list(np.unravel_index(prev.argmax(), prev.shape)) == r["best_prev_token_head"]
        assert r["tokens"] == len(PROMPT_IDS) and r["tokens_seen"] == r["step"] * BATCH * BLOCK
    assert main(["timeline", str(run[1]), "--prompt", PROMPT]) == 0
    text = capsys.readouterr().out.strip().splitlines()
    last = text[-1].split()
    assert len(text) == 2 + len(rows) and last[0] == str(STEPS)
    assert float(last[1]) == pytest.approx(rows[-1]["loss"], abs=1e-4)
    L, H = rows[-1]["best_prev_token_head"]
    assert last[2:4] == [f"L{L}.H{H}", f"{rows[-1]['best_prev_token_score']:.3f}"]


@pytest.mark.parametrize("make, expect", [
    (lambda d: (d / "notes.txt").write_text("hi"), "no training snapshots found (looked for gptviz"),
    (lambda d: None, "no training snapshots found"),
    (lambda d: (d / "step-000100.safetensors").write_bytes(b"junk"), "incomplete or corrupt"),
])
def test_cli_folder_without_snapshots_is_one_error_line(tmp_path, capsys, make, expect):
    make(tmp_path)
    assert main(["timeline", str(tmp_path), "--prompt", "a b a b"]) == 2
    cap = capsys.readouterr()
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0] and not cap.out


def test_cli_bad_inputs_are_one_error_line(run, tmp_path, capsys):
    for argv in (["timeline", str(tmp_path / "missing"), "--prompt", "x"],
                 ["timeline", str(run[1]), "--prompt", gpt2_tokenizer().decode(PROMPT_IDS[:1])],
                 ["timeline", str(run[1])],
                 ["train", "--data", "x.txt", "--out", str(tmp_path / "o.safetensors"), "--snapshot-every", "-1"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), (argv, err)
    assert not (tmp_path / "o.snapshots").exists()
