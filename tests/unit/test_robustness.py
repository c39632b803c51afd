"""Broken and hostile checkpoints: one clear error each, nothing allocated or executed; odd prompts work."""
import builtins
import json
import zipfile

import numpy as np
import pytest
import torch

import gptviz
from gptviz.checkpoints import validate
from gptviz.checkpoints.errors import CheckpointError
from gptviz.checkpoints.native import save_native
from tests.reference import nanogpt_state, save_nanogpt


@pytest.fixture(scope="module")
def native_file(tmp_path_factory, hf_folder):
    m = gptviz.load(str(hf_folder))
    path = tmp_path_factory.mktemp("native") / "ok.safetensors"
    save_native(path, m.model.state_dict(), m.config, m.tokenizer, "ok")
    return path


def _cut(src, dst, n):
    dst.write_bytes(src.read_bytes()[:n])
    return dst


@pytest.mark.parametrize("case", ["empty", "7 bytes", "header only", "half", "garbage header", "huge header length"])
def test_damaged_safetensors(native_file, tmp_path, case):
    data = native_file.read_bytes()
    n = int.from_bytes(data[:8], "little")
    p = tmp_path / "bad.safetensors"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "7 bytes":
        _cut(native_file, p, 7)
    elif case == "header only":
        _cut(native_file, p, 8 + n)
    elif case == "half":
        _cut(native_file, p, len(data) // 2)
    elif case == "garbage header":
        p.write_bytes((64).to_bytes(8, "little") + b"\x00\xff" * 32 + data[8 + 64:])
    else:
        p.write_bytes((10**12).to_bytes(8, "little") + data[8:])
    with pytest.raises(CheckpointError, match="incomplete or corrupt"):
        gptviz.load(str(p))


def test_compressed_zip_refused(tmp_path):
    sd, args = nanogpt_state()
    good = save_nanogpt(tmp_path / "good.pt", sd, args)
    with zipfile.ZipFile(good) as z, zipfile.ZipFile(tmp_path / "ckpt.pt", "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            out.writestr(info.filename, z.read(info.filename))
    with pytest.raises(CheckpointError, match="refused: compressed entries"):
        gptviz.load(str(tmp_path / "ckpt.pt"))


def test_storage_larger_than_data_refused_without_allocating(tmp_path):
    import resource
    torch.save({"model": {"w": torch.zeros(4)}, "model_args": {}}, tmp_path / "small.pt")
    with zipfile.ZipFile(tmp_path / "small.pt") as z, \
            zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_STORED) as out:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename.endswith("data.pkl"):
                big = b"J\x00\x00\x00\x40"      # 2**30 float32 elements: 4 GiB declared, 16 bytes stored
                data = data.replace(b"K\x04t", big + b"t", 1).replace(b"K\x00K\x04\x85", b"K\x00" + big + b"\x85", 1)
            out.writestr(info, data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="declares more data than the file holds"):
        gptviz.load(str(tmp_path / "bomb.pt"))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024   # KiB: far below 4 GiB


def test_legacy_torch_format_plain_data_loads(tmp_path):
    sd, args = nanogpt_state()
    torch.save({"model": sd, "model_args": args}, tmp_path / "ckpt.pt", _use_new_zipfile_serialization=False)
    assert gptviz.load(str(tmp_path / "ckpt.pt")).config.n_layer == 2


@pytest.mark.parametrize("make,pattern", [
    (lambda d: (d / "README.md").write_text("hi") and d, "no model weights found"),
    (lambda d: (d / "x.pt").write_bytes(bytes(range(256)) * 8) and d / "x.pt", "safe loader can read"),
    (lambda d: (d / "x.bin").write_text("just some text\n" * 50) and d / "x.bin", "not in PyTorch's file format"),
    (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt", "unrecognised file type"),
    (lambda d: (d / "empty.pt").write_bytes(b"") is not None and d / "empty.pt", "empty"),
])
def test_not_a_checkpoint(tmp_path, make, pattern):
    with pytest.raises(CheckpointError, match=pattern):
        gptviz.load(str(make(tmp_path)))


def test_file_removed_while_loading(native_file, tmp_path, monkeypatch):
    p = tmp_path / "vanishing.safetensors"
    p.write_bytes(native_file.read_bytes())
    from gptviz.checkpoints import native
    real = native.read_safetensors

    def read_then_delete(path):
        st = real(path)
        p.unlink()
        return st
    monkeypatch.setattr(native, "read_safetensors", read_then_delete)
    with pytest.raises(CheckpointError, match="cannot read|No such file"):
        gptviz.load(str(p))


def test_no_read_permission(native_file, monkeypatch):
    real_open = builtins.open

    def denied(file, *a, **k):
        if str(file) == str(native_file):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)
    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(CheckpointError, match="cannot read \\(Permission denied\\)"):
        gptviz.load(str(native_file))


def test_too_large_for_free_memory_refused_up_front(native_file, monkeypatch):
    monkeypatch.setattr(validate, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(CheckpointError, match=r"refused: the model needs about .* GiB .* but only 0\.1 GiB"):
        gptviz.load(str(native_file))


def test_mixed_prefixes_loaded_with_warning(tmp_path):
    sd, args = nanogpt_state()
    model = {("_orig_mod." + k if i % 2 else k): v for i, (k, v) in enumerate(sd.items())}
    torch.save({"model": model, "model_args": args}, tmp_path / "ckpt.pt")
    m = gptviz.load(str(tmp_path / "ckpt.pt"))
    assert any("_orig_mod." in w for w in m.warnings)


def test_nan_weights_loaded_with_warning_and_no_crash(tmp_path):
    sd, args = nanogpt_state()
    sd["transformer.h.1.mlp.c_fc.weight"][0, 0] = float("nan")
    sd["transformer.h.0.ln_1.weight"][3] = float("inf")
    save_nanogpt(tmp_path / "ckpt.pt", sd, args)
    m = gptviz.load(str(tmp_path / "ckpt.pt"))
    assert any("NaN or Inf" in w for w in m.warnings)
    tr = m.trace("hello there")
    p = tr.next_token_probs()
    assert np.all(np.isfinite(p)) and p.shape == (50304,)
    tr.attention(1)
    assert any("NaN or Inf" in w for w in tr.warnings)


def test_padded_vocab_warning(tmp_path):
    sd, args = nanogpt_state()
    save_nanogpt(tmp_path / "ckpt.pt", sd, args)
    m = gptviz.load(str(tmp_path / "ckpt.pt"))
    assert any("47 ids without a token are never shown" in w for w in m.warnings)


def test_hf_config_garbage(tmp_path, hf_folder):
    for f in hf_folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: unreadable"):
        gptviz.load(str(tmp_path))
    # issue 13: llama is a family now; a config without its sizes names the missing key
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="lacks 'hidden_size'.*llama"):
        gptviz.load(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    with pytest.raises(CheckpointError, match=r"model_type 'bert' is not supported; supported: .*gpt2.*llama"):
        gptviz.load(str(tmp_path))


ODD = ["", "   \n\t  ", "🙂👩‍👩‍👧🇫🇷", "東京は日本の首都", "e\u0301\u0301\u0301", "\u202eevil\u202c text",
       "\x00\x01\x1b[31mred\x7f", "a<|endoftext|>b", "\ud800 lone \udfff surrogates", "\u200b\u200d\ufeff"]


@pytest.mark.parametrize("text", ODD)
def test_odd_prompts(hf_folder, text):
    m = gptviz.load(str(hf_folder))
    tr = m.trace(text)
    assert tr.T == len(m.tokenizer.encode(text))
    if tr.T:
        np.testing.assert_allclose(tr.attention(0).sum(-1), 1, atol=1e-5)
        assert abs(tr.next_token_probs().sum() - 1) < 1e-4
        if "\ud800" not in text:
            assert m.tokenizer.decode(tr.token_ids) == text
        assert all(p.text for p in tr.tokens)
