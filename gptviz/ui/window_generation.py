"""Text actions of the main window: append a clicked candidate, Generate N in the worker, Stop, and the
prompt editor's room."""
from __future__ import annotations

import threading

from PySide6.QtCore import Qt, QTimer

from ..views.generation import GenerateJob


class GenerationActions:
    """Mixed into MainWindow; uses its editor, next-token panel and worker client."""

    def append_candidate(self, rank: int) -> None:
        """Append the clicked next-token candidate to the prompt."""
        shown = self.next_token.result
        if shown is None or rank >= len(shown.top_pieces):
            return
        piece = shown.top_pieces[rank]
        self._set_text(self.editor.toPlainText() + piece.bytes.decode("utf-8", errors="replace"))

    def start_generation(self, n: int, top_k: int, top_p: float, seed: int) -> None:
        if self.info is None or self.job is not None:
            return
        self._next_id += 1
        self.job = GenerateJob(self._next_id, self.editor.toPlainText(), n, self.next_token.temperature.value(),
                               top_k, top_p, seed, self.bos_action.isChecked(), threading.Event())
        self.next_token.set_generating(True)
        self.client.generate(self.job)

    def stop_generation(self) -> None:
        if self.job is not None:
            self.job.cancel.set()

    def _on_generated(self, job_id: int, continuation: str) -> None:
        if self.job is not None and job_id == self.job.id:
            self._set_text(self.job.text + continuation)
            self.editor.mark_generated(self.job.text, continuation)   # the model's words, not the user's

    def _on_generation_done(self, job_id: int, error: str) -> None:
        self.job = None
        self.next_token.set_generating(False)
        if error:
            self._on_compute_failed(job_id, error)

    def _set_text(self, text: str) -> None:
        self.editor.setPlainText(text)
        self.editor.moveCursor(self.editor.textCursor().MoveOperation.End)
        self.editor.reveal()

    def _grow_prompt(self, px: int) -> None:
        """The editor needs `px` to show its lines: give the prompt dock that, up to a third of the window."""
        extra = self.d_prompt.height() - self.editor.height()     # title bar and margins
        want = min(px + extra, self.height() // 3)
        if want > self.d_prompt.height():
            self.resizeDocks([self.d_prompt], [want], Qt.Vertical)
            QTimer.singleShot(0, self.capture_shares)             # the new height is kept across resizes

