"""`gptviz train` on a tiny text: the loss goes down, the file opens with identical logits, runs are deterministic."""
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

import gptviz
from gptviz.cli import main
from gptviz.training.config import TrainConfig
from gptviz.training.train import train

TEXT = ("The little dog ran to the park. The little cat sat on the mat. " * 40 +
        "<|endoftext|>" + "Once upon a time there was a girl who loved to sing. " * 30)


def _args(tmp_path, out, steps=40):
    data = tmp_path / "tiny.txt"
    data.write_text(TEXT, encoding="utf-8")
    return ["--data", f"{data}:1", "--out", str(out), "--n-layer", "2", "--n-head", "2", "--n-embd", "32",
            "--block-size", "32", "--batch-size", "8", "--steps", str(steps), "--eval-interval", "10",
            "--warmup", "5", "--lr", "1e-2", "--eval-windows", "4", "--repeat-fraction", "0.2", "--seed", "7",
            "--bf16", "off"]


@pytest.mark.parametrize("compact", ["on", "off"])
def test_training_lowers_loss_and_file_opens_with_identical_logits(tmp_path, compact):
    out = tmp_path / "m.safetensors"
    model, facts = train(TrainConfig.from_argv(_args(tmp_path, out) + ["--compact-vocab", compact]))
    hist = facts["history"]
    assert len(hist) == 4 and hist[-1]["tiny.txt"] < hist[0]["tiny.txt"] - 1.0
    assert hist[-1]["train"] < hist[0]["train"]
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    t = json.loads(meta["training"])
    assert t["steps"] == 40 and t["tokens_seen"] == 40 * 8 * 32
    assert t["data"][0]["sha256"] and t["data"][0]["file"] == "tiny.txt"
    assert set(t["val_loss"]) == {"tiny.txt"}
    m = gptviz.load(str(out))
    ids = m.tokenizer.encode("The little dog sat on the")
    model.eval()
    with torch.no_grad():
        want = model(torch.tensor([ids]))[0][0].numpy()
    np.testing.assert_allclose(m.trace_ids(ids).logits(), want, atol=1e-5, rtol=0)


def test_training_is_deterministic_and_cli_works(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert main(["train", *_args(tmp_path, a, steps=12)]) == 0
    assert main(["train", *_args(tmp_path, b, steps=12)]) == 0
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])


def test_resume_continues(tmp_path):
    out = tmp_path / "r.safetensors"
    assert main(["train", *_args(tmp_path, out, steps=10)]) == 0
    assert main(["train", *_args(tmp_path, out, steps=20), "--resume"]) == 0
    with safe_open(str(out), "pt") as f:
        t = json.loads(f.metadata()["training"])
    assert t["steps"] == 20 and t["tokens_seen"] == 20 * 8 * 32


def test_train_bad_data_file_is_an_error_line(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
