"""Tiny random checkpoints of other families for the GUI tests, each with a tokenizer.json trained here,
offline, by the `tokenizers` library (Llama-2-style byte-fallback BPE with <s> and add_bos_token, or
byte-level BPE with <|endoftext|> for GPT-Neo / Pythia), the model's vocabulary sized to fit it."""
from __future__ import annotations

import json
from pathlib import Path

from tests.families import build, save

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "tinyshakespeare.txt"


def _lines() -> list[str]:
    text = CORPUS.read_text(encoding="utf-8") if CORPUS.is_file() else (ROOT / "README.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines()[:3000] if line.strip()]


def tokenizer(style: str):
    """A trained tokenizers.Tokenizer: "sentencepiece" (<unk> <s> </s>, ▁ and byte fallback) or "bytelevel"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    if style == "sentencepiece":
        tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
        specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        tok.train_from_iterator(_lines(), trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                              show_progress=False))
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(_lines(), trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False))
    return tok


def family_folder(kind: str, folder: Path, **overrides) -> Path:
    """A saved random `kind` model (tests/families.py) with a tokenizer.json and tokenizer_config.json beside it."""
    style = "sentencepiece" if kind in ("llama", "mistral", "gemma") else "bytelevel"
    tok = tokenizer(style)
    hf = build(kind, vocab_size=tok.get_vocab_size(), **overrides)
    save(hf, folder)
    (folder / "tokenizer.json").write_text(tok.to_str(), encoding="utf-8")
    config = ({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>"} if style == "sentencepiece" else
              {"add_bos_token": False, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def open_window(qtbot, folder: Path, settings_dir: Path, **kw):
    """A main window on `folder`, as the conftest window fixture builds one, once its first frame is shown."""
    from PySide6.QtCore import QSettings
    from gptviz.ui.main_window import MainWindow
    win = MainWindow(device="cpu", settings=QSettings(str(settings_dir / "s.ini"), QSettings.IniFormat), **kw)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    with qtbot.waitSignal(win.client.modelLoaded, timeout=60000):
        win.load(str(folder))
    qtbot.waitUntil(lambda: win.current("tokens") is not None and win.client.idle, timeout=60000)
    return win
