"""`gptviz inspect` as a user runs it (a subprocess), checked against transformers; failures exit 2 with one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

PROMPT = "The cat sat on the mat because"


def run(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "gptviz", *args], capture_output=True, text=True, env=e, timeout=300)


def test_inspect_json_and_npz(hf_model, hf_folder, tmp_path):
    out = tmp_path / "t.npz"
    r = run("inspect", "--model", str(hf_folder), "--prompt", PROMPT, "--top-k", "5", "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    ids = [t["id"] for t in data["tokens"]]
    with torch.no_grad():
        ref = hf_model(torch.tensor([ids]), output_attentions=True)
    probs = torch.softmax(ref.logits[0, -1].double(), -1).numpy()
    top = np.argsort(-probs)[:5]
    assert [t["id"] for t in data["top_k"]] == top.tolist()
    np.testing.assert_allclose([t["prob"] for t in data["top_k"]], probs[top], atol=1e-5)
    assert data["tokens"][1]["text"] == "␣cat"
    z = np.load(out)
    T = len(ids)
    assert z["token_ids"].tolist() == ids
    np.testing.assert_allclose(z["logits"], ref.logits[0].numpy(), atol=1e-4)
    assert z["attention"].shape == (2, 4, T, T)
    np.testing.assert_allclose(z["attention"], torch.stack(ref.attentions)[:, 0].numpy(), atol=1e-4)
    for k in ("token_embedding_norm", "position_embedding_norm", "input_norm"):
        assert z[k].shape == (T,)


def test_inspect_text_output(hf_folder):
    r = run("inspect", "--model", str(hf_folder), "--prompt", "Hello world")
    assert r.returncode == 0
    assert "Hello [15496] | ␣world [995]" in r.stdout and "next token" in r.stdout


@pytest.mark.parametrize("args", [
    ("inspect", "--model", "/no/such/file.pt", "--prompt", "x"),
    ("inspect", "--prompt"),
    ("inspect", "--model", "__FILE__", "--prompt", "x"),
    ("inspect", "--prompt", "x", "--top-k", "0"),
    ("--bogus-flag",),
])
def test_failures_exit_2_with_one_error_line(tmp_path, args):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(1000))
    r = run(*[str(junk) if a == "__FILE__" else a for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.stderr


def test_model_id_from_local_hf_cache(hf_model, tmp_path):
    """`--model someone/tiny-gpt2` resolves through a cache folder in the hub's layout, offline."""
    cache = tmp_path / "hub"
    snap = cache / "models--someone--tiny-gpt2" / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    hf_model.save_pretrained(snap)
    (cache / "models--someone--tiny-gpt2" / "refs").mkdir()
    (cache / "models--someone--tiny-gpt2" / "refs" / "main").write_text(snap.name)
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    r = run("inspect", "--model", "someone/tiny-gpt2", "--prompt", PROMPT, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"] == "someone/tiny-gpt2"
    r = run("inspect", "--model", "someone/not-cached", "--prompt", PROMPT, env=env)
    assert r.returncode == 2 and "not in the local Hugging Face cache" in r.stderr
    from gptviz.checkpoints.hf import cached_gpt2_models
    assert [rid for rid, _ in cached_gpt2_models(str(cache))] == ["someone/tiny-gpt2"]


def test_hostile_bin_gives_exactly_one_error_line(tmp_path):
    """torch's own 'Detected pickle protocol 4' warning must not precede the refusal."""
    import pickle
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"transformer.wte.weight": Payload()}, f, protocol=4)
    r = run("inspect", "--model", str(tmp_path / "pytorch_model.bin"), "--prompt", "x")
    assert r.returncode == 2 and not marker.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "refused" in lines[0], r.stderr


@pytest.mark.parametrize("value", ["-1", "-0.5", "nan", "inf"])
def test_bad_temperature_is_refused(hf_folder, value):
    r = run("inspect", "--model", str(hf_folder), "--prompt", "x", "--temperature", value)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: --temperature"), r.stderr


def test_truncated_prompt_says_so(hf_folder):
    """The test model's context is 64 tokens; ' cat' is one token, so 100 of them are cut to the last 64."""
    r = run("inspect", "--model", str(hf_folder), "--prompt", " cat" * 100, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["truncated"] and len(data["tokens"]) == 64
    assert any("100 tokens" in w and "last 64" in w for w in data["warnings"]), data["warnings"]
