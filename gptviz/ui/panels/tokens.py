"""Token splits: the BPE pieces as chips, counts, context usage and a truncation notice. The strip
follows the editor's cursor: the chip holding the character at the cursor is scrolled into view."""
from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QWidget

from ...views import Tokens
from ..state import prompt_comment
from ..widgets.common import stack
from ..widgets.token_chips import TokenChips


class TokensPanel(QWidget):
    tokenClicked = Signal(int)
    export_table = "tokens"
    attr, title, dock, area, place = "tokens", "Token splits", "tokens", "top", ("split", "prompt")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("")
        self.notice = QLabel("")
        self.notice.setStyleSheet("color: #b45309; font-weight: bold;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.chips = TokenChips()
        self.chips.tokenClicked.connect(self.tokenClicked)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.chips)
        stack(self, self.summary, self.notice, self.scroll, stretch=self.scroll)
        self._offsets = np.zeros(1, np.int64)     # (N + 1,) byte offset of each character of the shown's text
        self._starts = np.zeros(0, np.int64)      # (P,) byte offset of each text piece
        self._first = 0                           # index of the first piece made from text (1 after a BOS)
        self._cursor: int | None = None           # the editor cursor's character index, revealed again on new tokens
        self.result = None

    def numbers(self):
        toks = self.result.tokens
        return (["position", "token_id", "token", "bytes_hex"],
                [[i, t.id, t.text, t.bytes.hex()] for i, t in enumerate(toks)], [prompt_comment(self.result)])

    def wants(self, state):
        return Tokens()

    def show_result(self, result, state) -> None:
        self.result = r = result
        T = r.T
        self.summary.setText(f"<b>{T}</b> tokens · <b>{len(r.prompt.text)}</b> characters · context "
                             f"<b>{T} / {r.block_size}</b>"
                             + (f" · starts with {html.escape(r.tokens[0].text)} (BOS)"
                                if r.prompt.prepend_bos and T and not r.truncated else ""))
        notes = []
        if r.truncated:
            notes.append(f"The prompt is {r.n_prompt_tokens} tokens, longer than the context window: "
                         f"only the last {T} are shown and used.")
        notes += r.warnings
        self.notice.setText("\n".join(notes))
        self.notice.setVisible(bool(notes))
        changed = not np.array_equal(r.token_ids, self.chips.ids)
        self.chips.set_pieces(r.tokens, state.special_ids, state.shared_ids)
        # the character-to-token map comes computed by the worker (Tokens view), not here on the GUI thread
        self._first, self._offsets, self._starts = r.first, r.char_offsets, r.piece_starts
        if changed and self._cursor is not None:
            # after the scroll area has taken the chips' new height
            QTimer.singleShot(0, lambda: self._cursor is not None and self.reveal_char(self._cursor))

    def token_at_char(self, i: int) -> int | None:
        """Position of the token holding the first byte of character i of the shown text (the last token
        for the end of the text); None when that character is outside the context window."""
        starts = self._starts
        if not len(starts):
            return None
        if i >= len(self._offsets) - 1:
            return self._first + len(starts) - 1
        b0, b1 = self._offsets[max(i, 0)], self._offsets[max(i, 0) + 1]
        j = int(np.searchsorted(starts, b0, side="right")) - 1
        if j < 0:
            return self._first if b1 > starts[0] else None    # the window may start inside this character
        return self._first + j

    def reveal_char(self, i: int) -> None:
        """Scroll the strip so the chip holding character i is in view."""
        self._cursor = i
        j = self.token_at_char(i)
        rect = self.chips.chip_rect(j) if j is not None else None
        if rect is not None:
            c = rect.center()
            self.scroll.ensureVisible(c.x(), c.y(), rect.width() // 2 + 4, rect.height() // 2 + 4)

    def follow(self, editor) -> None:
        """Reveal the chip under `editor`'s text cursor whenever the cursor moves."""
        def moved():
            text, pos = editor.toPlainText(), editor.textCursor().position()
            # Qt counts UTF-16 code units; Python strings count code points
            i = len(text.encode("utf-16-le", "surrogatepass")[: 2 * pos].decode("utf-16-le", "surrogatepass"))
            shown = self.result.prompt.text if self.result is not None else ""
            n = min(i, len(shown))
            if shown[:n] == text[:n]:
                self.reveal_char(i)
            else:
                # the chips there are of another text (a pasted replacement): scrolling to them would only repaint
                # the strip (10 ms at 2,048 tokens); the new tokens reveal the cursor when they come
                self._cursor = i
        editor.cursorPositionChanged.connect(moved)
