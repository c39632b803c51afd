"""Files whose pickle would run code are refused, and the payload never runs."""
import os
import pickle

import pytest
import torch

import gptviz
from gptviz.checkpoints.errors import CheckpointError
from tests.reference import nanogpt_state, save_nanogpt


class Payload:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _refused(path, marker):
    with pytest.raises(CheckpointError, match="refused") as e:
        gptviz.load(str(path))
    assert not marker.exists(), "the payload ran"
    return str(e.value)


def test_ckpt_pt_payload_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": Payload(marker), "model_args": {}}, tmp_path / "ckpt.pt")
    msg = _refused(tmp_path / "ckpt.pt", marker)
    assert "ckpt.pt" in msg


@pytest.mark.parametrize("where", ["optimizer", "config"])
def test_payload_inside_nanogpt_extras_refused(tmp_path, where):
    marker = tmp_path / "pwned"
    sd, args = nanogpt_state()
    path = save_nanogpt(tmp_path / "ckpt.pt", sd, args)
    ck = torch.load(path, weights_only=True)
    ck[where] = {"x": Payload(marker)}
    torch.save(ck, path)
    _refused(path, marker)


def test_hf_bin_payload_refused(tmp_path, hf_model):
    marker = tmp_path / "pwned"
    sd = dict(hf_model.state_dict())
    sd["transformer.wte.weight"] = Payload(marker)
    torch.save(sd, tmp_path / "pytorch_model.bin")
    hf_model.config.to_json_file(tmp_path / "config.json")
    _refused(tmp_path, marker)


def test_meta_pkl_payload_refused(tmp_path):
    marker = tmp_path / "pwned"
    sd, args = nanogpt_state(vocab_size=65)
    save_nanogpt(tmp_path / "ckpt.pt", sd, args)
    with open(tmp_path / "meta.pkl", "wb") as f:
        pickle.dump({"itos": Payload(marker)}, f)
    _refused(tmp_path / "ckpt.pt", marker)


def test_protocol0_payload_refused(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "model.pt", "wb") as f:
        pickle.dump({"model": Payload(marker)}, f, protocol=0)
    with pytest.raises(CheckpointError):
        gptviz.load(str(tmp_path / "model.pt"))
    assert not marker.exists()


def test_no_unsafe_loading_in_package():
    """Guard against regressions: no weights_only=False and no bare pickle.load in the package."""
    import pathlib
    import re
    root = pathlib.Path(gptviz.__file__).parent
    for f in root.rglob("*.py"):
        src = f.read_text(encoding="utf-8")
        assert not re.search(r"weights_only\s*=\s*False", src), f
        assert not re.search(r"pickle\.loads?\(", src), f
