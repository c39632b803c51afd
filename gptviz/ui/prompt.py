"""The prompt editor and the debouncer that turns keystrokes into requests."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QTextCursor, QTextFormat
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

MIN_LINES, MAX_LINES = 3, 8      # the editor grows with pasted text up to this many lines, then scrolls
GENERATED = QColor("#dcfce7")    # background of text the model generated, until the user edits it


class Debouncer(QObject):
    """Fires `delay_ms` after the last poke, but never later than `max_delay_ms` after the first,
    so continuous typing still refreshes."""
    fire = Signal()

    def __init__(self, delay_ms: int = 100, max_delay_ms: int = 300, parent=None):
        super().__init__(parent)
        self.delay_ms, self.max_delay_ms = delay_ms, max_delay_ms
        self.first: float | None = None       # perf_counter of the first unserved poke
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.PreciseTimer)   # a coarse 100 ms timer fired up to 6 ms late (measured)
        self._timer.timeout.connect(self._fire)

    def poke(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        left = self.max_delay_ms - (now - self.first) * 1e3
        self._timer.start(int(max(0, min(self.delay_ms, left))))

    def _fire(self) -> None:
        self.fire.emit()
        self.first = None

    def cancel(self) -> None:
        """Forget the pokes so far (their text is being submitted directly)."""
        self._timer.stop()
        self.first = None


def utf16_len(text: str) -> int:
    """Qt counts positions in UTF-16 code units: an emoji is two."""
    return len(text.encode("utf-16-le")) // 2


class PromptEditor(QPlainTextEdit):
    heightWanted = Signal(int)   # px the editor needs to show its text (MIN_LINES..MAX_LINES lines)

    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.2)
        self.setFont(f)
        self.setPlaceholderText("Type a prompt…  (drop a checkpoint file on the window to open it)")
        self.setTabChangesFocus(True)
        self.generated: tuple[int, int] | None = None   # Qt positions of the marked generated text
        self.document().contentsChange.connect(self._edited)

    # ---------- pasted text stays in view ----------
    def insertFromMimeData(self, source) -> None:
        super().insertFromMimeData(source)
        self.grow()
        self.reveal()

    def setPlainText(self, text: str) -> None:
        if not self.document().isEmpty():
            # emptied first, setting a long text costs ~0.6 of replacing one (2,048 -> 8,192 tokens: 18-19 ms
            # against 31-35 measured); the emptying's own signals are held back: one change, the final text
            with QSignalBlocker(self):
                self.document().clear()
        super().setPlainText(text)
        self.grow()

    def wanted_height(self) -> int:
        lines = min(max(int(self.document().size().height()), MIN_LINES), MAX_LINES)   # visual lines (wrapped)
        m = self.contentsMargins()
        return (lines * self.fontMetrics().lineSpacing() + 2 * int(self.document().documentMargin())
                + m.top() + m.bottom() + 2)

    def grow(self) -> None:
        """Ask for room for a few more lines when the text has them (the window decides how much it gives)."""
        if self.wanted_height() > self.viewport().height() + self.contentsMargins().top() * 2:
            self.heightWanted.emit(self.wanted_height())

    def reveal(self) -> None:
        """Show the cursor's line; if only blank lines are then in view (text pasted with trailing
        newlines), scroll back until the last line with text is the lowest line shown."""
        self.ensureCursorVisible()
        last = self.textCursor().block()
        while last.isValid() and not last.text().strip():
            last = last.previous()
        if not last.isValid():
            return

        def bottom() -> float:
            return self.blockBoundingGeometry(last).translated(self.contentOffset()).bottom()
        bar, room = self.verticalScrollBar(), self.viewport().height()
        if bottom() > 0:
            return                                              # some text is in view already
        while bar.value() > bar.minimum():
            v = bar.value()
            bar.setValue(v - 1)
            if bottom() > room:                                 # one step too far: it left at the bottom
                bar.setValue(v)
                break

    def visible_lines(self) -> list[str]:
        """The text of every block at least partly inside the viewport (for tests and checks)."""
        out, block, offset = [], self.firstVisibleBlock(), self.contentOffset()
        while block.isValid():
            top = self.blockBoundingGeometry(block).translated(offset).top()
            if top >= self.viewport().height():
                break
            out.append(block.text())
            block = block.next()
        return out

    # ---------- generated text looks different from typed text ----------
    def mark_generated(self, prefix: str, continuation: str) -> None:
        """Mark `continuation` (which follows `prefix` in the editor) with a light background."""
        start = utf16_len(prefix)
        end = start + utf16_len(continuation)
        sel = QTextEdit.ExtraSelection()
        sel.cursor = QTextCursor(self.document())
        sel.cursor.setPosition(start)
        sel.cursor.setPosition(end, QTextCursor.KeepAnchor)
        sel.format.setBackground(GENERATED)
        sel.format.setProperty(QTextFormat.FullWidthSelection, False)
        self.setExtraSelections([sel])
        self.generated = (start, end)

    def _edited(self, *_) -> None:
        if self.generated is not None:
            self.generated = None
            self.setExtraSelections([])
