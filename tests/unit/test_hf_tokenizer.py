"""tokenizer.json through the `tokenizers` library: tokenizers trained here, offline, by that library in
the layouts real checkpoints use (Llama-3 / Qwen byte-level BPE, Llama-2 / Mistral / Gemma byte-fallback
BPE with "▁", Unigram), compared with the library's own encode/decode and with the typed text's bytes."""
import json
import unicodedata
from pathlib import Path

import pytest

import tokenizers  # a runtime dependency
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

from gptviz.core.hf_tokenizer import HFTokenizer, tokenizer_from_hf_folder
from gptviz.core.tokenizer import TokenizerError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "tinyshakespeare.txt"
SPECIALS = ["<unk>", "<s>", "</s>"]
BYTES = [f"<0x{b:02X}>" for b in range(256)]
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

TEXTS = [
    "Hello world",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "Emoji: 🙂👩‍👩‍👧 and flags 🇫🇷 in a row 🙂🙂",
    "CJK: 東京は日本の首都です。你好，世界！",
    "Combining: e\u0301 n\u0303 a\u030a\u0323 Zalgo ẑ̷̢",
    "Lines\n\n\nwith\r\ntabs\tand   runs    of     spaces   ",
    "   leading spaces and trailing newline\n",
    "\t\ttabs first, then 1234567 3.14159 and don't we'll",
    "",
]


def _lines():
    if CORPUS.is_file():
        text = CORPUS.read_text(encoding="utf-8")
    else:   # a checkout without ../shared: the README is English text too
        text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines()[:4000] if line.strip()]


def _save(tok, folder: Path, config: dict | None, edit=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = json.loads(tok.to_str())
    if edit:
        edit(spec)
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _bytes_are_vocabulary(spec):
    """Llama-2 keeps <0x00>..<0xFF> in the model's vocabulary, not among the added tokens."""
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in BYTES]


def _with_template(bos: str):
    """A post-processor "<s> $A" as real Llama-2/Mistral/Gemma tokenizer.json files have."""
    def edit(spec):
        _bytes_are_vocabulary(spec)
        tok = tokenizers.Tokenizer.from_str(json.dumps(spec))
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
        spec.update(json.loads(tok.to_str()))
    return edit


def _llama2(legacy: bool):
    tok = tokenizers.Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    if legacy:   # the older Llama-2 tokenizer.json: the "▁" prefix and spaces come from the normalizer
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.train_from_iterator(_lines() + ["東京 日本"], trainers.BpeTrainer(
        vocab_size=700, special_tokens=SPECIALS + BYTES, show_progress=False))
    return tok


def _gemma():   # spaces become "▁" in the normalizer, nothing is prepended
    tok = tokenizers.Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.train_from_iterator(_lines(), trainers.BpeTrainer(vocab_size=700, special_tokens=["<pad>", "<eos>", "<bos>",
                                                                                       "<unk>"] + BYTES,
                                                          show_progress=False))
    return tok


def _bytelevel(llama3: bool):
    tok = tokenizers.Tokenizer(models.BPE())
    if llama3:   # Llama-3: its own split regex, then ByteLevel without GPT-2's regex; BOS by template
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    else:        # Qwen2: NFC normalizer, ChatML specials, no BOS
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_lines(), trainers.BpeTrainer(
        vocab_size=900, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    if llama3:
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    return tok


def _unigram():
    tok = tokenizers.Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    alphabet = sorted(set("".join(TEXTS)) - {" "})
    tok.train_from_iterator(_lines(), trainers.UnigramTrainer(
        vocab_size=600, special_tokens=SPECIALS, unk_token="<unk>", initial_alphabet=alphabet, show_progress=False))
    return tok


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_tok")
    llama2 = _llama2(legacy=False)
    return {
        "llama2": _save(llama2, root / "llama2", {"add_bos_token": True, "add_eos_token": False,
                                                  "bos_token": {"content": "<s>", "__type": "AddedToken"},
                                                  "eos_token": "</s>"}, _with_template("<s>")),
        "llama2_nobos": _save(llama2, root / "llama2_nobos", {"add_bos_token": False, "bos_token": "<s>",
                                                              "eos_token": "</s>"}, _bytes_are_vocabulary),
        "llama2_legacy": _save(_llama2(legacy=True), root / "llama2_legacy", {"add_bos_token": True},
                               _bytes_are_vocabulary),
        "gemma": _save(_gemma(), root / "gemma", {"add_bos_token": True, "bos_token": "<bos>", "eos_token": "<eos>"},
                       _with_template("<bos>")),
        "llama3": _save(_bytelevel(llama3=True), root / "llama3", None),
        "qwen": _save(_bytelevel(llama3=False), root / "qwen", {"add_bos_token": False, "bos_token": None,
                                                                "eos_token": "<|endoftext|>"}),
        "unigram": _save(_unigram(), root / "unigram", {"bos_token": "<s>", "eos_token": "</s>"}),
    }


def _load(folders, name):
    tok = tokenizer_from_hf_folder(folders[name])
    ref = tokenizers.Tokenizer.from_file(str(folders[name] / "tokenizer.json"))
    return tok, ref


ALL = ["llama2", "llama2_legacy", "gemma", "llama3", "qwen", "unigram"]


@pytest.mark.parametrize("name", ALL)
def test_ids_and_decode_equal_the_library(folders, name):
    tok, ref = _load(folders, name)
    assert isinstance(tok, HFTokenizer)
    assert tok.n_vocab == ref.get_vocab_size(with_added_tokens=True)
    for text in TEXTS + ["<s> typed specials </s><|endoftext|><|im_start|>"]:
        ids = tok.encode(text)
        assert ids == ref.encode(text, add_special_tokens=False).ids, text
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=False), text


@pytest.mark.parametrize("name", ["llama3", "gemma", "unigram"])
def test_pieces_bytes_are_the_text(folders, name):
    tok, _ = _load(folders, name)
    for text in TEXTS:
        ids = tok.encode(text)
        joined = b"".join(p.bytes for p in tok.pieces(ids))
        if name == "unigram":    # Metaspace puts a "▁" before text that does not start with a space
            added = bool(text) and not text.startswith(" ")
            assert tok.added_spaces(text) == ([0] if added else [])
            joined = joined[1:] if added else joined
        assert joined == text.encode("utf-8"), text
        assert [p.bytes for p in tok.pieces(ids)] == [tok.token_bytes(i) for i in ids]


def test_nfc_normalizer_bytes_are_the_normalized_text(folders):
    tok, _ = _load(folders, "qwen")
    for text in TEXTS:
        joined = b"".join(p.bytes for p in tok.pieces(tok.encode(text)))
        assert joined == unicodedata.normalize("NFC", text).encode("utf-8"), text
    assert tok.added_spaces("Hello world") == []


@pytest.mark.parametrize("name", ["llama2", "llama2_legacy"])
def test_llama2_prefix_space_is_the_only_difference(folders, name):
    tok, _ = _load(folders, name)
    for text in TEXTS:
        ids = tok.encode(text)
        pieces = tok.pieces(ids)
        added = tok.added_spaces(text)
        if not text:
            assert added == []
        elif text.startswith(" ") and name == "llama2":
            assert added == []           # prepend_scheme "first" adds nothing when a space is typed
        else:
            assert added == [0]          # the legacy normalizer prepends "▁" even before a typed space
        for i in added:
            assert pieces[i].bytes.startswith(b" ")
        joined = b"".join(p.bytes[1:] if i in added else p.bytes for i, p in enumerate(pieces))
        assert joined == text.encode("utf-8"), text


def test_legacy_normalizer_adds_a_space_after_each_special(folders):
    tok, _ = _load(folders, "llama2_legacy")
    text = "x<s>y z</s>w"
    ids = tok.encode(text)
    pieces = tok.pieces(ids)
    specials = [i for i, p in enumerate(pieces) if p.text in ("<s>", "</s>")]
    assert len(specials) == 2
    assert tok.added_spaces(text) == [0, specials[0] + 1, specials[1] + 1]


def test_display_forms(folders):
    tok, ref = _load(folders, "llama2")
    vocab = ref.get_vocab()
    word = next(t for t in vocab if t.startswith("▁") and len(t) > 2 and t[1:].isalpha())
    p = tok.piece(vocab[word])
    assert p.text == "␣" + word[1:] and p.bytes == b" " + word[1:].encode()
    assert tok.piece(vocab["<0xE2>"]).bytes == b"\xe2" and tok.piece(vocab["<0xE2>"]).text == "\\xe2"
    assert tok.piece(vocab["<0x0A>"]).text == "↵" and tok.piece(vocab["<0x09>"]).text == "⇥"
    # an emoji the vocabulary lacks: byte pieces that form the character only together
    ids = tok.encode("x🙂")
    emoji = [p for p in tok.pieces(ids) if p.bytes and p.bytes[0] >= 0x80]
    assert [ref.id_to_token(p.id) for p in emoji] == ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>"]
    assert b"".join(p.bytes for p in emoji) == "🙂".encode()
    assert [p.text for p in emoji] == ["\\xf0", "\\x9f", "\\x99", "\\x82"]
    # specials display as their names, and typed literally they are the special ids
    assert [tok.piece(vocab[s]).text for s in SPECIALS] == SPECIALS
    assert tok.encode("</s>") == [vocab["</s>"]] and tok.eot_id == vocab["</s>"]
    assert tok.piece(tok.n_vocab + 5).bytes == b""      # a model id beyond the tokenizer's


def test_bytelevel_display_forms(folders):
    tok, ref = _load(folders, "llama3")
    vocab = ref.get_vocab()
    word = next(t for t in vocab if t.startswith("Ġ") and len(t) > 2 and t[1:].isalpha())
    assert tok.piece(vocab[word]).text == "␣" + word[1:] and tok.piece(vocab[word]).bytes == b" " + word[1:].encode()
    assert tok.piece(vocab["Ċ"]).text == "↵" and tok.piece(vocab["Ċ"]).bytes == b"\n"
    pieces = tok.pieces(tok.encode("東"))             # not in the training text: three byte pieces
    assert [p.bytes for p in pieces] == [b"\xe6", b"\x9d", b"\xb1"]
    assert [p.text for p in pieces] == ["\\xe6", "\\x9d", "\\xb1"]
    assert tok.piece(vocab["<|begin_of_text|>"]).text == "<|begin_of_text|>"


def test_bos_follows_tokenizer_config(folders):
    def ids(name, token):
        return tokenizers.Tokenizer.from_file(str(folders[name] / "tokenizer.json")).token_to_id(token)
    llama2 = tokenizer_from_hf_folder(folders["llama2"])
    assert llama2.add_bos and llama2.bos_id == ids("llama2", "<s>") and llama2.eot_id == ids("llama2", "</s>")
    nobos = tokenizer_from_hf_folder(folders["llama2_nobos"])
    assert not nobos.add_bos and nobos.bos_id == ids("llama2", "<s>")
    gemma = tokenizer_from_hf_folder(folders["gemma"])
    assert gemma.add_bos and gemma.bos_id == ids("gemma", "<bos>") and gemma.eot_id == ids("gemma", "<eos>")
    # no tokenizer_config.json: the post-processor's template "<|begin_of_text|> $A" says a BOS is expected
    llama3 = tokenizer_from_hf_folder(folders["llama3"])
    assert "template" in llama3.add_bos_source and "add_bos_token" in llama2.add_bos_source
    ref = tokenizers.Tokenizer.from_file(str(folders["llama3"] / "tokenizer.json"))
    assert llama3.add_bos and llama3.bos_id == ref.encode("hi").ids[0] == ids("llama3", "<|begin_of_text|>")
    assert llama3.eot_id == ids("llama3", "<|end_of_text|>")
    qwen = tokenizer_from_hf_folder(folders["qwen"])
    assert not qwen.add_bos and qwen.bos_id is None and qwen.eot_id == ids("qwen", "<|endoftext|>")
    unigram = tokenizer_from_hf_folder(folders["unigram"])
    assert not unigram.add_bos and unigram.bos_id == ids("unigram", "<s>")


def test_bos_agrees_with_transformers(folders):
    """Folders laid out as real checkpoints are (the flag and the template agree): transformers' own
    fast tokenizer adds a BOS exactly when we say the checkpoint expects one."""
    transformers = pytest.importorskip("transformers")
    for name in ["llama2", "llama2_nobos", "gemma", "llama3", "qwen"]:
        ref = transformers.PreTrainedTokenizerFast.from_pretrained(str(folders[name]))
        ours = tokenizer_from_hf_folder(folders[name])
        expected = ([ours.bos_id] if ours.add_bos else []) + ours.encode("Hello world")
        assert ref("Hello world")["input_ids"] == expected, name


def test_config_names_a_missing_token(folders, tmp_path):
    (tmp_path / "tokenizer.json").write_bytes((folders["llama2"] / "tokenizer.json").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"add_bos_token": True, "bos_token": "<BOS>"}))
    tok = tokenizer_from_hf_folder(tmp_path)
    assert any("<BOS>" in w for w in tok.warnings)
    assert tok.bos_id == tok.encode("<s>")[0] and tok.add_bos   # fell back to the well-known name


def test_added_whitespace_token_is_spaces(folders, tmp_path):
    """Gemma-style: an added (not special) token "▁▁▁▁", matched after the normalizer made spaces "▁"."""
    ref = tokenizers.Tokenizer.from_file(str(folders["gemma"] / "tokenizer.json"))
    ref.add_tokens([tokenizers.AddedToken("▁▁▁▁", normalized=True, special=False)])
    ref.save(str(tmp_path / "tokenizer.json"))
    tok = tokenizer_from_hf_folder(tmp_path)
    text = "a    b\n        c"
    ids = tok.encode(text)
    assert ids == ref.encode(text, add_special_tokens=False).ids and ids.count(ref.token_to_id("▁▁▁▁")) == 3
    assert tok.piece(ref.token_to_id("▁▁▁▁")).text == "␣␣␣␣"
    assert b"".join(p.bytes for p in tok.pieces(ids)) == text.encode()


def test_unknown_characters_are_unk(folders):
    tok, ref = _load(folders, "unigram")
    ids = tok.encode("Ω")
    assert ids == ref.encode("Ω", add_special_tokens=False).ids
    assert ref.token_to_id("<unk>") in ids and tok.piece(ref.token_to_id("<unk>")).text == "<unk>"


def test_refusals_and_absence(tmp_path):
    assert tokenizer_from_hf_folder(tmp_path) is None
    wp = tokenizers.Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    wp.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(TokenizerError, match="WordPiece.*supported: BPE, Unigram"):
        tokenizer_from_hf_folder(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="unreadable"):
        tokenizer_from_hf_folder(tmp_path)
    with pytest.raises(TokenizerError, match="unreadable"):
        HFTokenizer('{"model": {"type": "BPE"}}')


def test_encoding_lets_other_threads_run(folders):
    """The worker tokenizes a long prompt while the GUI thread paints: tokenizers' encode holds the GIL for
    the whole call (16-34 ms at 8,192 tokens, the GUI thread stopped); encode_batch releases it."""
    import threading
    import time
    tok = tokenizer_from_hf_folder(folders["llama2"])
    text = " ".join(_lines())[:200_000]
    span, beats = [], []

    def work():
        t0 = time.perf_counter()
        span.append(tok.encode(text))
        span.extend((t0, time.perf_counter()))
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():                      # Python bytecode: runs only while the encoding lets go of the GIL
        beats.append(time.perf_counter())
    t.join()
    ids, t0, t1 = span
    assert ids == tok._tok.encode(text, add_special_tokens=False).ids
    inside = [t0] + [b for b in beats if t0 < b < t1] + [t1]
    longest = max(b - a for a, b in zip(inside, inside[1:]))
    assert longest < 0.25 * (t1 - t0)        # the GUI thread ran all along, not once the encoding was done
