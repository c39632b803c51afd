"""File ▸ Open from Hugging Face cache and model ids, on a fake cache folder in the hub's layout
(HF_HUB_CACHE=tmp: models--org--name/{refs/<revision>, snapshots/<commit>/}): every supported family
listed with its size on disk, unsupported ones greyed with their model_type, Pythia-style step
revisions picked in the dialog or as org/name@step1000, each opening the weights of that revision."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from tests.families import save
from tests.gui.conftest import settle
from tests.gui.family_models import family_folder, open_window

PYTHIA = "EleutherAI/pythia-tiny"
COMMITS = {"main": "a" * 40, "step1000": "b" * 40, "step2000": "c" * 40}


def _snapshot(root, repo, commit):
    d = root / ("models--" + repo.replace("/", "--")) / "snapshots" / commit
    d.parent.mkdir(parents=True, exist_ok=True)
    return d


def _ref(root, repo, name, commit):
    ref = root / ("models--" + repo.replace("/", "--")) / "refs" / name
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A llama, a Pythia with main/step1000/step2000 (different weights: seeds 0, 1, 2), a T5 and a bare repo."""
    import transformers
    root = tmp_path_factory.mktemp("hub")
    family_folder("llama", _snapshot(root, "someone/tiny-llama", "d" * 40))
    _ref(root, "someone/tiny-llama", "main", "d" * 40)
    base = family_folder("gpt_neox", _snapshot(root, PYTHIA, COMMITS["main"]))
    _ref(root, PYTHIA, "main", COMMITS["main"])
    for seed, name in ((1, "step1000"), (2, "step2000")):
        d = _snapshot(root, PYTHIA, COMMITS[name])
        hf = transformers.AutoModelForCausalLM.from_pretrained(str(base))
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in hf.parameters():
                p.add_(0.05 * torch.randn_like(p))
        save(hf, d)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            (d / f).write_bytes((base / f).read_bytes())
        _ref(root, PYTHIA, name, COMMITS[name])
    t5 = _snapshot(root, "google/t5-tiny", "e" * 40)
    t5.mkdir()
    (t5 / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    _ref(root, "google/t5-tiny", "main", "e" * 40)
    (root / "models--someone--empty" / "snapshots").mkdir(parents=True)
    return root


def _disk_bytes(folder):
    seen, n = set(), 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                n += st.st_size
    return n


def _logits(folder, ids):
    import transformers
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.no_grad():
        return hf(torch.tensor(np.array(ids))[None]).logits[0].numpy()


def test_listing_families_sizes_revisions(cache, monkeypatch):
    from gptviz.checkpoints.hf import cached_gpt2_models
    from gptviz.checkpoints.hf_cache import cached_models
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    models = {m.repo_id: m for m in cached_models()}
    assert sorted(models) == sorted([PYTHIA, "google/t5-tiny", "someone/empty", "someone/tiny-llama"])
    assert (models[PYTHIA].family, models["someone/tiny-llama"].family) == ("gpt_neox", "llama")
    assert models["google/t5-tiny"].family is None and "'t5'" in models["google/t5-tiny"].why
    assert not models["someone/empty"].supported
    for rid, m in models.items():
        assert m.size == _disk_bytes(cache / ("models--" + rid.replace("/", "--")))
    assert [(r.label, r.commit, r.step) for r in models[PYTHIA].revisions] == [
        ("main", COMMITS["main"], None), ("step1000", COMMITS["step1000"], 1000), ("step2000", COMMITS["step2000"], 2000)]
    assert [rid for rid, _ in cached_gpt2_models()] == [PYTHIA, "someone/tiny-llama"]


def test_model_id_and_revision_open_offline(cache, monkeypatch):
    import gptviz
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ids = np.array([5, 17, 99, 3, 250, 8])
    for spec, rev in ((PYTHIA, "main"), (PYTHIA + "@step2000", "step2000"), (PYTHIA + "@" + "b" * 8, "step1000")):
        m = gptviz.load(spec)
        assert m.name == PYTHIA
        want = _logits(cache / "models--EleutherAI--pythia-tiny" / "snapshots" / COMMITS[rev], ids)
        np.testing.assert_allclose(m.trace_ids(ids).logits(), want, atol=1e-4)
    with pytest.raises(Exception, match="not in the local Hugging Face cache"):
        gptviz.load(PYTHIA + "@step3000")


def test_dialog_lists_greys_and_picks_a_revision(qtbot, cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    win = open_window(qtbot, cache / "models--someone--tiny-llama" / "snapshots" / ("d" * 40), tmp_path)
    chosen = {}

    def exec_(dlg):
        # what the user sees, then: pick Pythia, its step1000 revision, Open
        t = dlg.table
        names = [t.item(r, 0).text() for r in range(t.rowCount())]
        chosen["names"] = names
        t5 = names.index("google/t5-tiny")
        chosen["t5"] = (t.item(t5, 1).text(), bool(t.item(t5, 0).flags() & Qt.ItemIsEnabled))
        chosen["sizes"] = [t.item(r, 2).text() for r in range(t.rowCount())]
        t.selectRow(t5)
        chosen["t5_open"] = dlg.selected_path()
        t.selectRow(names.index(PYTHIA))
        chosen["revisions"] = [dlg.revision.itemText(i).split()[0] for i in range(dlg.revision.count())]
        dlg.revision.setCurrentIndex(chosen["revisions"].index("step1000"))
        return QDialog.Accepted

    monkeypatch.setattr("gptviz.ui.window_files.HFCacheDialog.exec", exec_)
    with qtbot.waitSignal(win.client.modelLoaded, timeout=60000):
        win.open_from_hf_cache()
    assert chosen["names"] == [PYTHIA, "google/t5-tiny", "someone/empty", "someone/tiny-llama"]
    assert chosen["t5"][1] is False and "not supported" in chosen["t5"][0] and "'t5'" in chosen["t5"][0]
    assert chosen["t5_open"] is None
    assert chosen["revisions"] == ["main", "step1000", "step2000"]
    assert all(s.endswith(("KB", "MB", "B")) for s in chosen["sizes"])
    win.editor.setPlainText("Speak, speak.")
    settle(qtbot, win)
    assert win.info.name == PYTHIA and win.info.config.family == "gpt_neox"
    tr = win.client._worker.ctx.trace
    want = _logits(cache / "models--EleutherAI--pythia-tiny" / "snapshots" / COMMITS["step1000"], tr.token_ids)
    np.testing.assert_allclose(tr.logits(), want, atol=1e-4)


def test_command_line_model_id_opens_offline(cache, tmp_path):
    shot = tmp_path / "shot.png"
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-m", "gptviz", PYTHIA + "@step2000", "--prompt", "Speak.",
                        "--screenshot", str(shot)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert shot.stat().st_size > 10000
