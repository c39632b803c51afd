"""GPT-2 tokenizer: ids equal an independent implementation (Hugging Face's GPT2Tokenizer, built from
vocab.json + merges.txt that these tests derive from the BPE ranks), round-trips and display forms."""
import hashlib
import json

import pytest

from gptviz.core.tokenizer import (GPT2_RANKS_FILE, GPT2_RANKS_SHA256, TokenizerError, bpe_from_hf_files,
                                   display_form, gpt2_tokenizer, _parse_tiktoken_ranks, _unicode_to_byte)

TEXTS = [
    "Hello world",
    "Emoji: 🙂👩‍👩‍👧 and flags 🇫🇷 in a row 🙂🙂",
    "CJK: 東京は日本の首都です。你好，世界！",
    "Combining: e\u0301 n\u0303 a\u030a\u0323 Zalgo ẑ̷̢",
    "Lines\n\n\nwith\r\ntabs\tand   runs    of     spaces   ",
    "literal <|endoftext|> in the middle<|endoftext|>",
    "   leading spaces and trailing newline\n",
    "Numbers 1234567 3.14159 and don't we'll they've I'm",
    "",
]


def _bpe(ranks, token, max_rank):
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[1]):
                best = (i, r)
        if best is None:
            return parts
        i = best[0]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]


@pytest.fixture(scope="module")
def hf_files(tmp_path_factory):
    """vocab.json + merges.txt recovered from the ranks file (each merged token = exactly one merge)."""
    ranks = _parse_tiktoken_ranks(GPT2_RANKS_FILE.read_bytes())
    to_uni = {b: c for c, b in _unicode_to_byte().items()}
    u = lambda bs: "".join(to_uni[b] for b in bs)  # noqa: E731
    vocab = {u(t): r for t, r in ranks.items()}
    vocab["<|endoftext|>"] = 50256
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) > 1:
            a, b = _bpe(ranks, token, rank)
            merges.append(f"{u(a)} {u(b)}")
    d = tmp_path_factory.mktemp("gpt2_tok")
    (d / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (d / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return d


def test_ranks_file_is_r50k():
    assert hashlib.sha256(GPT2_RANKS_FILE.read_bytes()).hexdigest() == GPT2_RANKS_SHA256
    tok = gpt2_tokenizer()
    assert tok.n_vocab == 50257 and tok.eot_id == 50256
    assert tok.encode("<|endoftext|>") == [50256]


@pytest.mark.parametrize("text", TEXTS)
def test_ids_equal_huggingface_reference(hf_files, text):
    from transformers import GPT2Tokenizer
    ref = GPT2Tokenizer.from_pretrained(str(hf_files))   # a local folder: reads vocab.json + merges.txt
    ours = gpt2_tokenizer()
    assert ours.encode(text) == ref.encode(text)
    assert ours.decode(ours.encode(text)) == text


def test_known_ids():
    # GPT-2 ids that every GPT-2 user has seen: "Hello" 15496, " world" 995, "\n" 198
    assert gpt2_tokenizer().encode("Hello world\n") == [15496, 995, 198]


def test_tokenizer_from_hf_files_is_gpt2(hf_files):
    tok = bpe_from_hf_files(hf_files)
    assert tok.is_gpt2 and tok.name == "gpt2"
    for text in TEXTS:
        assert tok.encode(text) == gpt2_tokenizer().encode(text)


def test_tokenizer_json_variant(hf_files, tmp_path):
    vocab = json.loads((hf_files / "vocab.json").read_text(encoding="utf-8"))
    merges = (hf_files / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
    del vocab["<|endoftext|>"]
    spec = {"model": {"type": "BPE", "vocab": vocab, "merges": merges},
            "added_tokens": [{"id": 50256, "content": "<|endoftext|>"}]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    tok = bpe_from_hf_files(tmp_path)
    assert tok.encode(TEXTS[5]) == gpt2_tokenizer().encode(TEXTS[5])


def test_out_of_order_vocab_is_refused(tmp_path):
    vocab = {c: i for i, c in enumerate(sorted(_unicode_to_byte()))}
    vocab.update({"ab": 300, "abc": 299})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("a b\nab c\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match="merge order"):
        bpe_from_hf_files(tmp_path)


def test_pieces_display_forms():
    tok = gpt2_tokenizer()
    pieces = tok.pieces(tok.encode(" hello\n\tworld"))
    assert [p.text for p in pieces] == ["␣hello", "↵", "⇥", "world"]
    assert pieces[0].bytes == b" hello"
    # an emoji split into byte pieces: each shows its bytes, never a replacement character
    emoji = tok.pieces(tok.encode("🙂"))
    assert len(emoji) > 1
    assert b"".join(p.bytes for p in emoji) == "🙂".encode()
    assert all("\ufffd" not in p.text for p in emoji)
    assert any("\\x" in p.text for p in emoji)


def test_display_form_edge_cases():
    assert display_form("\u0301".encode()) == "◌\u0301"        # lone combining mark gets a base
    assert display_form("\u202eabc".encode()) == "\\u202eabc"   # RTL override cannot reorder the chip
    assert display_form(b"\x00") == "\\x00"
    assert display_form(b" \xe4\xbd") == "␣\\xe4\\xbd"


def _gpt2_tokenizer_json(hf_files, folder, normalizer=None):
    """GPT-2's tokenizer.json as the `tokenizers` library builds it from vocab.json + merges.txt."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers
    tok = tokenizers.Tokenizer(models.BPE.from_file(str(hf_files / "vocab.json"), str(hf_files / "merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    if normalizer is not None:
        tok.normalizer = normalizer
    folder.mkdir(exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))


def test_gpt2_folders_stay_on_tiktoken(hf_files, tmp_path):
    from transformers import GPT2Tokenizer
    from gptviz.core.hf_tokenizer import tokenizer_from_hf_folder
    ref = GPT2Tokenizer.from_pretrained(str(hf_files))
    assert tokenizer_from_hf_folder(hf_files) is gpt2_tokenizer()            # vocab.json + merges.txt
    lib = _gpt2_tokenizer_json(hf_files, tmp_path / "json_only")
    tok = tokenizer_from_hf_folder(tmp_path / "json_only")                  # tokenizer.json alone
    assert tok is gpt2_tokenizer()
    for text in TEXTS:
        assert tok.encode(text) == lib.encode(text, add_special_tokens=False).ids == ref.encode(text), text


def test_gpt2_sized_but_different_goes_to_the_library(hf_files, tmp_path):
    from tokenizers import normalizers
    from gptviz.core.hf_tokenizer import HFTokenizer, tokenizer_from_hf_folder
    lib = _gpt2_tokenizer_json(hf_files, tmp_path, normalizer=normalizers.NFKC())   # "ﬁ" -> "fi"
    tok = tokenizer_from_hf_folder(tmp_path)
    assert isinstance(tok, HFTokenizer) and tok.byte_level
    for text in TEXTS + ["ﬁne ①"]:
        assert tok.encode(text) == lib.encode(text, add_special_tokens=False).ids, text
    assert tok.encode("ﬁne") == gpt2_tokenizer().encode("fine")
    assert tok.eot_id == 50256 and tok.piece(50256).text == "<|endoftext|>"
