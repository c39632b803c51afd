"""Tokenizers: GPT-2 byte-level BPE (tiktoken, offline), BPE from Hugging Face files, nanoGPT characters.

Other tokenizer.json files (Llama, Mistral, Qwen, Gemma...) are in hf_tokenizer.py."""
from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tiktoken

from .resources import resource_dir

RESOURCES = resource_dir()
GPT2_RANKS_FILE = RESOURCES / "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
# GPT-2's pre-tokenizer regex, as tiktoken's r50k_base/gpt2 encodings use it.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"

# Characters that would make a token chip unreadable or reorder the text around it.
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")


class TokenizerError(ValueError):
    """Tokenizer files are missing, corrupt or of a kind we cannot reproduce exactly."""


@dataclass(frozen=True)
class Piece:
    """One token as the panels show it."""
    id: int
    text: str      # display form: visible whitespace, \\xNN for bytes that are not a whole UTF-8 character
    bytes: bytes


def display_form(data: bytes) -> str:
    """Readable form of a token's bytes: whitespace made visible, partial UTF-8 shown as its bytes."""
    text = data.decode("utf-8", errors="backslashreplace")
    out = []
    for i, ch in enumerate(text):
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
        elif i == 0 and unicodedata.combining(ch):
            out.append("◌" + ch)   # a combining mark with nothing to sit on: give it the dotted circle
        else:
            out.append(ch)
    return "".join(out)


class Tokenizer:
    """Common interface: encode/decode plus per-id bytes for display.

    bos_id is the token a caller prepends for "prepend BOS" (None: there is none); add_bos says whether
    the checkpoint expects it by default (Llama-style models do). encode itself never adds it.
    """
    name: str = "tokenizer"
    n_vocab: int = 0
    eot_id: int | None = None
    bos_id: int | None = None
    add_bos: bool = False

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        raise NotImplementedError

    def piece(self, token_id: int) -> Piece:
        cache = self.__dict__.setdefault("_piece_cache", {})   # display forms cost more than encoding
        token_id = int(token_id)
        p = cache.get(token_id)
        if p is None:
            data = self.token_bytes(token_id)
            p = cache[token_id] = Piece(token_id, display_form(data), data)
        return p

    def pieces(self, ids) -> list[Piece]:
        return [self.piece(i) for i in ids]

    def spec(self) -> dict:
        """How our .safetensors format records this tokenizer."""
        raise NotImplementedError


class TiktokenTokenizer(Tokenizer):
    """Byte-level BPE through tiktoken; `<|endoftext|>` typed literally is the special token."""

    def __init__(self, encoding: tiktoken.Encoding, name: str, is_gpt2: bool = False):
        self.enc = encoding
        self.name = name
        self.n_vocab = encoding.n_vocab
        self.eot_id = encoding._special_tokens.get(ENDOFTEXT)
        self.bos_id = self.eot_id          # GPT-2's bos_token is <|endoftext|> too
        self.is_gpt2 = is_gpt2

    def encode(self, text: str) -> list[int]:
        return self.enc.encode(text, allowed_special="all")

    def decode(self, ids) -> str:
        return self.enc.decode([int(i) for i in ids])

    def token_bytes(self, token_id: int) -> bytes:
        return self.enc.decode_single_token_bytes(int(token_id))

    def spec(self) -> dict:
        if not self.is_gpt2:
            raise TokenizerError(f"tokenizer {self.name!r} is not GPT-2's; our format stores only 'gpt2' or characters")
        return {"type": "gpt2"}


def _parse_tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=1)
def gpt2_tokenizer() -> TiktokenTokenizer:
    """GPT-2's tokenizer from resources/gpt2.tiktoken, checked against its published hash."""
    try:
        data = GPT2_RANKS_FILE.read_bytes()
    except OSError as e:
        raise TokenizerError(f"GPT-2 BPE ranks missing: {GPT2_RANKS_FILE} ({e.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != GPT2_RANKS_SHA256:
        raise TokenizerError(f"{GPT2_RANKS_FILE} has sha256 {digest}, expected {GPT2_RANKS_SHA256}")
    enc = tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=_parse_tiktoken_ranks(data),
                            special_tokens={ENDOFTEXT: 50256}, explicit_n_vocab=50257)
    return TiktokenTokenizer(enc, "gpt2", is_gpt2=True)


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the printable stand-ins HF vocab files use for raw bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _vocab_bytes(token: str) -> bytes:
    table = _unicode_to_byte()
    try:
        return bytes(table[ch] for ch in token)
    except KeyError:
        raise TokenizerError(f"vocabulary entry {token!r} is not byte-level BPE") from None


def bpe_from_vocab_merges(vocab: dict[str, int], merges: list[tuple[str, str]],
                          special: dict[str, int] | None = None, name: str = "bpe") -> TiktokenTokenizer:
    """A byte-level BPE tokenizer from HF vocab + merges, run by tiktoken.

    tiktoken merges by the rank of the merged token, HF by the merge's position; the two agree when
    merged tokens' ids increase with merge order, which holds for GPT-2-family vocabularies.
    """
    merged_ids = []
    for a, b in merges:
        token = a + b
        if token not in vocab:
            raise TokenizerError(f"merge {a!r} + {b!r} produces {token!r}, which is not in the vocabulary")
        merged_ids.append(vocab[token])
    if any(x >= y for x, y in zip(merged_ids, merged_ids[1:])):
        raise TokenizerError("vocabulary ids do not follow merge order; this BPE cannot be reproduced exactly")
    merged = {a + b for a, b in merges}
    ranks: dict[bytes, int] = {}
    specials = dict(special or {})
    for token, idx in vocab.items():
        if len(token) == 1 or token in merged:
            ranks[_vocab_bytes(token)] = int(idx)
        elif token not in specials:
            specials[token] = int(idx)   # e.g. <|endoftext|>: in vocab.json but made by no merge
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise TokenizerError(f"vocabulary lacks {len(missing)} of the 256 single bytes (first: {missing[0]})")
    if len(set(ranks.values()) | set(specials.values())) != len(ranks) + len(specials):
        raise TokenizerError("vocabulary assigns the same id to two tokens")
    enc = tiktoken.Encoding(name=name, pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    gpt2 = gpt2_tokenizer()
    is_gpt2 = ranks == gpt2.enc._mergeable_ranks and specials == gpt2.enc._special_tokens
    return TiktokenTokenizer(enc, "gpt2" if is_gpt2 else name, is_gpt2=is_gpt2)


def bpe_from_hf_files(folder: Path) -> TiktokenTokenizer | None:
    """Tokenizer from vocab.json + merges.txt or tokenizer.json in a HF folder; None when neither exists."""
    folder = Path(folder)
    try:
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
            merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
            return bpe_from_vocab_merges(vocab, merges, name=folder.name or "bpe")
        if (folder / "tokenizer.json").is_file():
            spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
            model = spec.get("model") or {}
            if model.get("type") != "BPE":
                raise TokenizerError(f"tokenizer.json model type {model.get('type')!r} is not BPE")
            merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
            special = {t["content"]: int(t["id"]) for t in spec.get("added_tokens", [])
                       if t.get("content") not in model["vocab"]}
            return bpe_from_vocab_merges(model["vocab"], merges, special, name=folder.name or "bpe")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, TokenizerError):
            raise
        raise TokenizerError(f"tokenizer files in {folder} are unreadable: {e}") from None
    return None


class CharTokenizer(Tokenizer):
    """nanoGPT's character-level vocabulary (meta.pkl's stoi/itos). Characters it lacks are skipped."""

    def __init__(self, chars: list[str], name: str = "characters"):
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise TokenizerError("a character vocabulary must be a non-empty list of single characters")
        if len(set(chars)) != len(chars):
            raise TokenizerError("character vocabulary has duplicates")
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(chars)}
        self.name = name
        self.n_vocab = len(chars)

    def encode(self, text: str) -> list[int]:
        return [self.stoi[c] for c in text if c in self.stoi]

    def unknown_chars(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self.stoi})

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def token_bytes(self, token_id: int) -> bytes:
        return self.chars[int(token_id)].encode("utf-8", errors="surrogatepass")

    def spec(self) -> dict:
        return {"type": "char", "chars": self.chars}


def tokenizer_from_spec(spec: dict) -> Tokenizer:
    """Inverse of Tokenizer.spec(), for our .safetensors metadata."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "gpt2":
        return gpt2_tokenizer()
    if kind == "char":
        return CharTokenizer(spec.get("chars"))
    raise TokenizerError(f"unknown tokenizer spec {spec!r}")
