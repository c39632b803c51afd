"""Views of the model pass itself: the tokens, the embedding norms, the next-token distribution and the
architecture's tensor shapes for this prompt."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.architecture import architecture
from ..analysis.probabilities import top_k
from ..core.tokenizer import Piece
from .base import Context, Result, View


def utf8_offsets(text: str) -> np.ndarray:
    """(len(text) + 1,) byte offset in text's UTF-8 where each character starts (and the end)."""
    cp = np.fromiter(map(ord, text), np.int64, len(text))                  # (N,) code points
    n = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)                # (N,) UTF-8 length of each
    return np.concatenate([[0], np.cumsum(n)])


def piece_starts(text_bytes: bytes, pieces) -> np.ndarray:
    """(P,) byte offset in `text_bytes` where each piece begins."""
    lens = np.array([len(p.bytes) for p in pieces], np.int64)              # (P,)
    joined = b"".join(p.bytes for p in pieces)
    if text_bytes.endswith(joined):
        # byte-level BPE spells the text exactly; a truncated prompt shows only the end of it
        return len(text_bytes) - len(joined) + np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    # a tokenizer that skips or rewrites characters: find each piece where it next occurs
    starts, off = [], 0
    for p in pieces:
        j = text_bytes.find(p.bytes, off) if p.bytes else -1
        j = off if j < 0 else j
        starts.append(j)
        off = j + len(p.bytes)
    return np.array(starts, np.int64)


@dataclass(frozen=True, eq=False)
class TokensResult(Result):
    n_prompt_tokens: int
    truncated: bool
    block_size: int
    warnings: list[str]
    # the cursor-to-chip map, computed here in the worker: at 8,192 tokens it cost the GUI thread ~7 ms a prompt
    first: int                           # index of the first token made from the text (1 after a prepended BOS)
    char_offsets: np.ndarray             # (N + 1,) UTF-8 byte offset of each character of prompt.text, and the end
    piece_starts: np.ndarray             # (T - first,) UTF-8 byte offset in prompt.text where each text token begins


@dataclass(frozen=True)
class ModelPass(View):
    """The prompt's model pass and nothing to show: asked for on every keystroke, so the pass runs while the
    typing debounce waits and the views asked for when it fires find the trace made (the worker keeps the
    last one). Without it the pass began only after the debounce, on a worker idle for 100 ms: measured at
    512 tokens, 55 ms in the window against 45 ms made back to back."""
    priority = -1

    def compute(self, ctx: Context) -> None:
        return None


@dataclass(frozen=True)
class Tokens(View):
    priority = 0

    def compute(self, ctx: Context) -> TokensResult:
        tr = ctx.trace
        # a prepended BOS is no character of the text (a truncated window has cut it off)
        first = 1 if ctx.prompt.prepend_bos and not tr.truncated and len(ctx.tokens) else 0
        text = ctx.prompt.text
        return ctx.result(TokensResult, self, n_prompt_tokens=tr.n_prompt_tokens, truncated=tr.truncated,
                          block_size=ctx.model.config.block_size, warnings=list(tr.warnings), first=first,
                          char_offsets=utf8_offsets(text),
                          piece_starts=piece_starts(text.encode("utf-8", "surrogatepass"), ctx.tokens[first:]))


@dataclass(frozen=True, eq=False)
class NormsResult(Result):
    token_embedding_norm: np.ndarray     # (T,)
    position_embedding_norm: np.ndarray  # (T,)
    input_norm: np.ndarray               # (T,)


@dataclass(frozen=True)
class Norms(View):
    priority = 3          # free to compute, ~10 ms to draw: after the first paint (base.FIRST_PAINT)

    def compute(self, ctx: Context) -> NormsResult:
        tr = ctx.trace
        return ctx.result(NormsResult, self, token_embedding_norm=tr.token_embedding_norm,
                          position_embedding_norm=tr.position_embedding_norm, input_norm=tr.input_norm)


@dataclass(frozen=True, eq=False)
class NextTokenResult(Result):
    top_ids: np.ndarray                  # (k,) best first; zero-probability ids are no candidates
    top_probs: np.ndarray                # (k,)
    top_pieces: list[Piece]


@dataclass(frozen=True)
class NextToken(View):
    temperature: float = 1.0
    top_k: int = 10
    priority = 1

    def compute(self, ctx: Context) -> NextTokenResult:
        if ctx.trace.T == 0:
            ids, probs = np.zeros(0, np.int64), np.zeros(0, np.float32)
        else:
            ids, probs = top_k(next_probs(ctx, self.temperature), self.top_k)
            keep = probs > 0                 # greedy, padded vocabulary, NaN model: not candidates
            ids, probs = ids[keep], probs[keep]
        return ctx.result(NextTokenResult, self, top_ids=ids, top_probs=probs,
                          top_pieces=ctx.model.tokenizer.pieces(ids))


def next_probs(ctx: Context, temperature: float) -> np.ndarray:
    """(V,) next-token distribution of ctx's prompt, computed once per trace and temperature."""
    return ctx.once(f"next_probs {temperature!r}", lambda: ctx.trace.next_token_probs(temperature))


@dataclass(frozen=True, eq=False)
class ArchitectureResult(Result):
    boxes: list                          # analysis.architecture boxes, with this prompt's shapes
    n_layer: int


@dataclass(frozen=True)
class Architecture(View):
    priority = 9

    def compute(self, ctx: Context) -> ArchitectureResult:
        c = ctx.model.config
        return ctx.result(ArchitectureResult, self, boxes=architecture(c, ctx.trace.T), n_layer=c.n_layer)
