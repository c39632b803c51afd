"""Token chips: one rounded box per token (display form above, id below), wrapped like text. Tokens whose
embedding row is one shared, never-trained row get a dashed outline and a muted id.

Virtualised: the layout is three integer arrays (x, y, width per chip), and a paint draws only the chips
inside the exposed rectangle, so a prompt of thousands of tokens scrolls as smoothly as a short one."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from ...core.tokenizer import Piece

COLORS = [QColor("#dbeafe"), QColor("#fde68a")]       # alternating chip colours
SPECIAL = QColor("#fecaca")                            # <|endoftext|> and friends
SELECTED = QColor("#2563eb")
MUTED_ID = QColor("#b8bec9")                           # the id of a token on the shared, untrained row


class TokenChips(QWidget):
    tokenClicked = Signal(int)         # position clicked
    tokenToggled = Signal(int)         # position ctrl/shift-clicked: add to or remove from the selection

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.pieces: list[Piece] = []
        self.special_ids: set[int] = set()
        self.shared_ids: frozenset[int] = frozenset()    # ids on the one embedding row the model never trained
        self.selected: int | None = None
        self.marked: set[int] = set()      # multi-selection, drawn with a thicker outline
        self.ids = np.zeros(0, np.int64)   # (T,) the pieces' ids
        self._x = self._y = self._w = np.zeros(0, np.int32)   # (T,) each chip's left, top and width
        self._laid_width = None            # the width the layout was made for: a height-only resize keeps it
        self._line_h = 40
        self.drawn = 0                     # chips the last paint drew (tests: only the visible ones)
        self.font_text = QFont(self.font())
        self.font_text.setPointSizeF(self.font().pointSizeF() * 1.05)
        self.font_id = QFont(self.font())
        self.font_id.setPointSizeF(self.font().pointSizeF() * 0.75)
        self._height = 40
        self._widths: dict[int, int] = {}    # chip width per token id: measuring text is the costly part of layout

    def set_pieces(self, pieces: list[Piece], special_ids: set[int] = frozenset(), shared_ids=()) -> None:
        self.pieces = pieces
        self.ids = np.fromiter((p.id for p in pieces), np.int64, len(pieces))
        self.special_ids = set(special_ids)
        self.shared_ids = frozenset(int(i) for i in shared_ids)
        if self.selected is not None and self.selected >= len(pieces):
            self.selected = None
        self._layout()
        self.update()

    def set_selected(self, pos: int | None) -> None:
        if pos != self.selected:         # a repaint of the whole strip is ~10 ms at 512 tokens
            self.selected = pos
            self.update()

    def is_shared(self, i: int) -> bool:
        return self.pieces[i].id in self.shared_ids

    def chip_rect(self, i: int) -> QRect | None:
        if not 0 <= i < len(self._x):
            return None
        return QRect(int(self._x[i]), int(self._y[i]), int(self._w[i]), self._line_h)

    def set_marked(self, positions) -> None:
        marked = set(positions)
        if marked != self.marked:        # every Tokens and Attention result re-sends the selection
            self.marked = marked
            self.update()

    def _layout(self) -> None:
        ft, fi = QFontMetrics(self.font_text), QFontMetrics(self.font_id)
        line_h = ft.height() + fi.height() + 8
        width = max(100, self.width() - 8)
        widths = self._widths
        # measure each distinct id once (cached across prompts): 8,192 tokens hold ~2,000 distinct ids
        uniq, inv = np.unique(self.ids, return_inverse=True)                 # (U,), (T,)
        text = {p.id: p.text for p in self.pieces} if any(int(u) not in widths for u in uniq) else {}
        for u in uniq.tolist():
            if u not in widths:
                widths[u] = max(ft.horizontalAdvance(text[u]), fi.horizontalAdvance(str(u))) + 10
        ws = np.array([widths[u] for u in uniq.tolist()], np.int32)[inv.reshape(-1)]   # (T,)
        # greedy wrap like text: a plain int loop (the wrap is sequential), ~1 ms at 8,192 tokens
        n = len(ws)
        xs, ys = [0] * n, [0] * n
        x, y = 4, 4
        for i, w in enumerate(ws.tolist()):
            if x + w > width and x > 4:
                x, y = 4, y + line_h + 4
            xs[i], ys[i] = x, y
            x += w + 3
        self._x, self._y, self._w = np.array(xs, np.int32), np.array(ys, np.int32), ws
        self._line_h = line_h
        self._laid_width = self.width()
        self._height = y + line_h + 6
        self.setMinimumHeight(self._height)
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        return QSize(400, self._height)

    def resizeEvent(self, e) -> None:
        if self.width() != self._laid_width:   # the wrap depends on the width only (set_pieces grows the height)
            self._layout()
        super().resizeEvent(e)

    def paintEvent(self, e) -> None:
        qp = QPainter(self)
        qp.setRenderHint(QPainter.Antialiasing)
        ft, fi = QFontMetrics(self.font_text), QFontMetrics(self.font_id)
        visible = e.rect()
        # chips are in reading order, so their tops ascend: the exposed rows are one slice
        i0 = int(np.searchsorted(self._y, visible.top() - self._line_h, side="right"))
        i1 = int(np.searchsorted(self._y, visible.bottom(), side="right"))
        self.drawn = 0
        for i in range(i0, min(i1, len(self.pieces))):
            p, r = self.pieces[i], self.chip_rect(i)
            if not r.intersects(visible):
                continue
            self.drawn += 1
            fill = SPECIAL if p.id in self.special_ids else COLORS[i % 2]
            shared = p.id in self.shared_ids
            qp.setPen(QPen(SELECTED, 3) if i in self.marked else
                      QPen(SELECTED, 2) if i == self.selected else
                      QPen(fill.darker(220), 1, Qt.DashLine) if shared else QPen(fill.darker(130), 1))
            qp.setBrush(fill)
            qp.drawRoundedRect(r.adjusted(0, 0, -1, -1), 4, 4)
            qp.setPen(QColor("#111827"))
            qp.setFont(self.font_text)
            qp.drawText(QRect(r.x(), r.y() + 2, r.width(), ft.height()), Qt.AlignHCenter, p.text)
            qp.setPen(MUTED_ID if shared else QColor("#6b7280"))
            qp.setFont(self.font_id)
            qp.drawText(QRect(r.x(), r.y() + ft.height() + 3, r.width(), fi.height()), Qt.AlignHCenter, str(p.id))
        qp.end()

    def index_at(self, pos) -> int | None:
        i0 = int(np.searchsorted(self._y, pos.y() - self._line_h, side="right"))
        i1 = int(np.searchsorted(self._y, pos.y(), side="right"))
        for i in range(i0, i1):
            if self.chip_rect(i).contains(pos):
                return i
        return None

    def mouseMoveEvent(self, e) -> None:
        i = self.index_at(e.position().toPoint())
        if i is None:
            QToolTip.hideText()
            return
        QToolTip.showText(e.globalPosition().toPoint(), self.tooltip(i), self)

    def tooltip(self, i: int) -> str:
        p = self.pieces[i]
        text = f"position {i}\nid {p.id}\nbytes {p.bytes.hex(' ')}\n{p.bytes!r}"
        if p.id in self.shared_ids:
            text += (f"\nshares one embedding row with {len(self.shared_ids) - 1:,} other ids the model never "
                     "trained: its ‖token embedding‖ is identical")
        return text

    def mousePressEvent(self, e) -> None:
        i = self.index_at(e.position().toPoint())
        if i is not None:
            if e.modifiers() & (Qt.ControlModifier | Qt.ShiftModifier):
                self.tokenToggled.emit(i)
            else:
                self.tokenClicked.emit(i)
