"""Token splits: the BPE pieces as chips, counts, context usage and a truncation notice."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QWidget

from ..widgets.common import stack
from ..widgets.token_chips import TokenChips


class TokensPanel(QWidget):
    tokenClicked = Signal(int)
    export_table = "tokens"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("")
        self.notice = QLabel("")
        self.notice.setStyleSheet("color: #b45309; font-weight: bold;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.chips = TokenChips()
        self.chips.tokenClicked.connect(self.tokenClicked)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.chips)
        stack(self, self.summary, self.notice, scroll, stretch=scroll)

    def show_frame(self, frame, n_chars: int, special_ids: set[int]) -> None:
        T = frame.T
        self.summary.setText(f"<b>{T}</b> tokens · <b>{n_chars}</b> characters · context "
                             f"<b>{T} / {frame.block_size}</b>"
                             + (" · starts with &lt;|endoftext|&gt;" if frame.request.prepend_bos else ""))
        notes = []
        if frame.truncated:
            notes.append(f"The prompt is {frame.n_prompt_tokens} tokens, longer than the context window: "
                         f"only the last {T} are shown and used.")
        notes += frame.warnings
        self.notice.setText("\n".join(notes))
        self.notice.setVisible(bool(notes))
        self.chips.set_pieces(frame.tokens, special_ids)
