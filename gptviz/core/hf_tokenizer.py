"""Hugging Face `tokenizer.json` through the `tokenizers` library (BPE, byte-fallback, Metaspace, Unigram).

The library does the encoding and decoding, so ids are exactly what transformers' fast tokenizers give.
What we add is each id's true bytes, for display and for lining pieces up with the typed text:
- byte-level BPE (GPT-2, Llama-3, Qwen): vocabulary strings use GPT-2's printable stand-ins for bytes
  ("Ġ" is a space); they are mapped back as for GPT-2.
- SentencePiece-style (Llama-2, Mistral, Gemma, Unigram models): "▁" is a space; with byte fallback
  "<0xE2>" is the single byte 0xE2 (a run of them makes a UTF-8 character only together).
- added/special tokens (<s>, </s>, <|im_start|>…): their content, so they display as their names.

Known exceptions to "the pieces' bytes, concatenated, are the text's bytes":
- Llama-2-style tokenizers add a "▁" before the text (and, in the legacy normalizer form, after every
  special token): that space was never typed. `added_spaces(text)` says which pieces carry one.
- A unicode normalizer (Qwen's NFC) changes the text first: the bytes are the normalized text's.
- Characters outside a vocabulary without byte fallback become <unk>, whose bytes are its name.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .tokenizer import (Piece, Tokenizer, TokenizerError, _unicode_to_byte, bpe_from_hf_files, display_form,
                        gpt2_tokenizer)

SUPPORTED_MODELS = ("BPE", "Unigram")
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
# Used only when neither tokenizer_config.json, special_tokens_map.json nor config.json names the token.
_BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>")
_EOS_NAMES = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>")


def _walk(node):
    """Every dict in a tokenizer.json component, Sequence members included."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _token_name(value) -> str | None:
    """tokenizer_config.json writes a token as a string or as {"content": ..., "__type": "AddedToken"}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _template_bos(post_processor) -> str | None:
    """The special token a post-processor puts before the text ("<s> $A", "<|begin_of_text|> $A")."""
    for node in _walk(post_processor):
        kind = node.get("type")
        if kind == "TemplateProcessing":
            single = node.get("single") or []
            if single and isinstance(single[0], dict) and "SpecialToken" in single[0]:
                return single[0]["SpecialToken"].get("id")
        elif kind in ("BertProcessing", "RobertaProcessing"):
            cls = node.get("cls")
            if isinstance(cls, list) and cls:
                return cls[0]
    return None


class HFTokenizer(Tokenizer):
    """A `tokenizer.json` run by the `tokenizers` library; encode never adds special tokens.

    bos_id/add_bos: the BOS id and whether the checkpoint expects it prepended (callers prepend it:
    `[tok.bos_id] + tok.encode(text)`), add_bos_source says where that default came from; eot_id: the
    end-of-text id; special_ids: the added tokens marked special; warnings: what the files got wrong. Piece display forms are cached per id.
    """

    def __init__(self, tokenizer_json: str, name: str = "tokenizer.json", config: dict | None = None,
                 model_config: dict | None = None):
        try:
            from tokenizers import Tokenizer as _Lib
        except ImportError:
            raise TokenizerError("reading tokenizer.json needs the 'tokenizers' package (pip install tokenizers)") \
                from None
        try:
            spec = json.loads(tokenizer_json)
            self._tok = _Lib.from_str(tokenizer_json)
        except Exception as e:   # the library raises a bare Exception on malformed files
            raise TokenizerError(f"tokenizer.json is unreadable: {e}") from None
        model = spec.get("model") or {}
        self.model_type = model.get("type")
        if self.model_type not in SUPPORTED_MODELS:
            raise TokenizerError(f"tokenizer.json model type {self.model_type!r} is not supported "
                                 f"(supported: {', '.join(SUPPORTED_MODELS)})")
        parts = [spec.get("pre_tokenizer"), spec.get("decoder"), spec.get("normalizer")]
        nodes = [n for p in parts for n in _walk(p)]
        self.byte_level = any(n.get("type") == "ByteLevel" for n in nodes)
        self.byte_fallback = bool(model.get("byte_fallback"))
        self.space_marker = None if self.byte_level else self._find_space_marker(nodes)
        self._added = {int(i): t.content for i, t in self._tok.get_added_tokens_decoder().items()}
        self.special_ids = frozenset(int(i) for i, t in self._tok.get_added_tokens_decoder().items() if t.special)
        vocab = self._tok.get_vocab(with_added_tokens=True)
        self.n_vocab = max(vocab.values()) + 1 if vocab else 0
        self.kind = self._describe()
        self.name = f"{name} ({self.kind})"
        self.warnings: list[str] = []
        self._bytes: dict[int, bytes] = {}
        self._pieces: dict[int, Piece] = {}
        self._set_special_ids(spec, config or {}, model_config or {})

    @staticmethod
    def _find_space_marker(nodes) -> str | None:
        """The character standing for a space: Metaspace's replacement, or a Replace(" " <-> "▁") step."""
        for n in nodes:
            if n.get("type") == "Metaspace":
                return n.get("replacement") or "▁"
        for n in nodes:
            if n.get("type") == "Replace":
                pattern = (n.get("pattern") or {}).get("String")
                content = n.get("content")
                if content == " " and pattern:
                    return pattern          # decoder: "▁" -> " "
                if pattern == " " and content:
                    return content          # normalizer: " " -> "▁"
        return None

    def _describe(self) -> str:
        bits = [self.model_type]
        if self.byte_level:
            bits.append("byte-level")
        if self.byte_fallback:
            bits.append("byte fallback")
        if self.space_marker:
            bits.append(f"{self.space_marker} for spaces")
        return ", ".join(bits)

    def _id_of(self, name: str | None) -> int | None:
        return None if name is None else self._tok.token_to_id(name)

    def _set_special_ids(self, spec: dict, config: dict, model_config: dict):
        """BOS/EOS from tokenizer_config.json (and special_tokens_map.json, merged in by the caller), then
        config.json's ids, then the post-processor's template, then well-known names."""
        def pick(key: str, names, template=None):
            named = _token_name(config.get(f"{key}_token"))
            found = self._id_of(named)
            if named is not None and found is None:
                self.warnings.append(f"tokenizer_config.json names {key}_token {named!r}, "
                                     f"which tokenizer.json does not have")
            if found is None:
                mid = model_config.get(f"{key}_token_id")
                mid = mid[0] if isinstance(mid, list) and mid else mid
                if isinstance(mid, int) and 0 <= mid < self.n_vocab:
                    found = mid
            if found is None:
                found = self._id_of(template)
            for n in names:
                if found is None and n in self._added.values():
                    found = self._id_of(n)
            return found

        template = _template_bos(spec.get("post_processor"))
        self.eot_id = pick("eos", _EOS_NAMES)
        self.bos_id = pick("bos", _BOS_NAMES, template)
        # The explicit flag first (transformers 4's Llama/Gemma tokenizers apply it); without one, the
        # post-processor's template (what transformers 5 follows once a tokenizer.json exists). Real
        # checkpoints set both alike; older Llama-2 tokenizer.json files have only the flag.
        flag = config.get("add_bos_token")
        if isinstance(flag, bool):
            self.add_bos, self.add_bos_source = flag, "tokenizer_config.json add_bos_token"
        elif template is not None and self._id_of(template) is not None:
            self.add_bos, self.add_bos_source = True, f"tokenizer.json template {template} $A"
        else:
            self.add_bos, self.add_bos_source = False, "no BOS in tokenizer_config.json or tokenizer.json"
        if self.add_bos and self.bos_id is None:
            self.warnings.append("the tokenizer asks for a BOS token but names none; none is added")
            self.add_bos = False

    # --- the Tokenizer interface -------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self._encoding(text).ids

    def _encoding(self, text: str):
        # encode_batch releases the GIL while it works, encode holds it: 8,192 tokens (a 4,096-piece BPE) took
        # 16-34 ms in the worker, in which the GUI thread could not run (1-5 ms through encode_batch)
        return self._tok.encode_batch([text], add_special_tokens=False)[0]

    def decode(self, ids) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        token_id = int(token_id)
        data = self._bytes.get(token_id)
        if data is None:
            data = self._bytes[token_id] = self._compute_bytes(token_id)
        return data

    def _compute_bytes(self, token_id: int) -> bytes:
        token = self._tok.id_to_token(token_id)
        if token is None:
            return b""
        if self.byte_fallback:
            m = _BYTE_PIECE.fullmatch(token)
            if m:
                return bytes([int(m.group(1), 16)])
        if token_id in self.special_ids:
            return self._added[token_id].encode("utf-8", errors="surrogatepass")
        if token_id in self._added:   # e.g. Gemma's runs of "▁": matched after the normalizer, so spaces
            token = self._added[token_id]
            if self.space_marker:
                token = token.replace(self.space_marker, " ")
            return token.encode("utf-8", errors="surrogatepass")
        if self.byte_level:
            table = _unicode_to_byte()
            if all(ch in table for ch in token):
                return bytes(table[ch] for ch in token)
        if self.space_marker:
            token = token.replace(self.space_marker, " ")
        return token.encode("utf-8", errors="surrogatepass")

    def piece(self, token_id: int) -> Piece:
        token_id = int(token_id)
        p = self._pieces.get(token_id)
        if p is None:
            if self._tok.id_to_token(token_id) is None:
                p = Piece(token_id, f"<id {token_id}?>", b"")   # a model id the tokenizer has no token for
            else:
                data = self.token_bytes(token_id)
                p = Piece(token_id, display_form(data), data)
            self._pieces[token_id] = p
        return p

    def pieces(self, ids) -> list[Piece]:
        get = self._pieces.get
        return [get(i) or self.piece(i) for i in map(int, ids)]

    def added_spaces(self, text: str) -> list[int]:
        """Indices (into encode(text)) of pieces whose leading space the tokenizer added, not the typist.

        A piece's leading space is typed when the text has a space where the piece starts and no later
        piece has claimed it (walked backwards, so the legacy "▁▁Hello" for " Hello" blames the first).
        """
        enc = self._encoding(text)
        claimed, added = set(), []
        for i in range(len(enc.ids) - 1, -1, -1):
            if not self.token_bytes(enc.ids[i]).startswith(b" "):
                continue
            start = enc.offsets[i][0]
            if start < len(text) and text[start] == " " and start not in claimed:
                claimed.add(start)
            else:
                added.append(i)
        return added[::-1]

    def spec(self) -> dict:
        raise TokenizerError(f"tokenizer {self.name!r} comes from a tokenizer.json; our format stores only "
                             "'gpt2' or characters")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TokenizerError(f"{path} is unreadable: {e}") from None
    if not isinstance(data, dict):
        raise TokenizerError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _folder_label(folder: Path) -> str:
    if folder.parent.name == "snapshots":     # a HF cache snapshot: name it by its repository
        return folder.parent.parent.name.removeprefix("models--").replace("--", "/")
    return folder.name or "tokenizer.json"


def _gpt2_shaped(spec: dict) -> bool:
    """Cheap check before building GPT-2's ranks: byte-level BPE of GPT-2's size, no normalizer."""
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    added = {t.get("content"): t.get("id") for t in spec.get("added_tokens") or []}
    return (model.get("type") == "BPE" and spec.get("normalizer") is None and pre.get("type") == "ByteLevel"
            and not pre.get("add_prefix_space") and len(model.get("vocab") or {}) in (50256, 50257)
            and set(added.items()) <= {("<|endoftext|>", 50256)})


def tokenizer_from_hf_folder(folder: Path) -> Tokenizer | None:
    """The tokenizer of a Hugging Face model folder, read offline; None when it has no tokenizer files.

    GPT-2's own BPE (vocab.json + merges.txt, or a tokenizer.json with exactly GPT-2's ranks) stays on
    tiktoken; any other tokenizer.json goes through the `tokenizers` library (HFTokenizer). vocab.json +
    merges.txt without a tokenizer.json is byte-level BPE with GPT-2's pre-tokenizer, as before.
    """
    folder = Path(folder)
    path = folder / "tokenizer.json"
    if not path.is_file():
        tok = bpe_from_hf_files(folder)
        return gpt2_tokenizer() if tok is not None and tok.is_gpt2 else tok   # one GPT-2 instance, shared
    try:
        text = path.read_text(encoding="utf-8")
        spec = json.loads(text)
    except (OSError, ValueError) as e:
        raise TokenizerError(f"{path} is unreadable: {e}") from None
    if not isinstance(spec, dict):
        raise TokenizerError(f"{path}: expected a JSON object, found {type(spec).__name__}")
    if _gpt2_shaped(spec):
        try:
            tok = bpe_from_hf_files(folder)
        except TokenizerError:
            tok = None          # GPT-2-sized but not GPT-2's: the library reproduces it exactly
        if tok is not None and tok.is_gpt2:
            return gpt2_tokenizer()
    config = {**_read_json(folder / "special_tokens_map.json"), **_read_json(folder / "tokenizer_config.json")}
    model_config = _read_json(folder / "config.json")
    return HFTokenizer(text, name=_folder_label(folder), config=config, model_config=model_config)
