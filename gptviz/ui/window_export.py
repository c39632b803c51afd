"""Export actions of the main window: every panel to PNG/SVG/CSV/NPZ, and Edit > Copy image."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import export


class ExportActions:
    """Mixed into MainWindow; uses its panels and their shown results. MainWindow defines the
    `exported(path, error)` signal and calls _init_export()."""

    def _init_export(self) -> None:
        self._npz_jobs: dict[int, tuple] = {}      # request id -> (path, prompt, results, layer, head)
        self._export_dialogs = False                # failures become message boxes once the user exported by hand
        self.client.allAttention.connect(self._on_all_attention)
        self.exported.connect(self._on_exported)

    def export(self, panel, kind: str, path) -> None:
        """Write `panel` as `kind` to `path`. NPZ waits for the worker (every layer's attention): `exported`
        is emitted when the file is written or has failed; the other kinds are written at once and emit it too."""
        if self.view_state is None or self.tokens.result is None:
            raise ValueError("nothing to export yet")
        if kind == "npz":
            self._next_id += 1
            prompt = self.view_state.prompt
            results = [p.result for p in [self.attention, *self.panel_list] if p is not self.geometry]
            self._npz_jobs[self._next_id] = (Path(path), prompt, results, self.attention.layer, self.attention.head)
            self.statusBar().showMessage(f"exporting every layer's attention to {Path(path).name}…")
            self.busy.show()
            self.client.all_attention(self._next_id, prompt)
            return
        export.export_panel(kind, Path(path), panel)
        self.exported.emit(str(path), "")

    def _on_all_attention(self, req_id: int, attention, error: str) -> None:
        job = self._npz_jobs.pop(req_id, None)
        if job is None:
            return
        path, prompt, results, layer, head = job
        self.busy.setVisible(not self.client.idle)
        if not error:
            try:
                export.save_npz(path, prompt, results, attention, layer, head)
            except (OSError, ValueError) as e:
                error = str(e)
        if error:
            self.statusBar().showMessage(f"export failed: {error}", 10000)
        else:
            self.statusBar().showMessage(f"exported {path}", 5000)
        self.exported.emit(str(path), error)

    def _on_exported(self, path: str, error: str) -> None:
        if error and self._export_dialogs:
            QMessageBox.warning(self, "Export failed", f"{path}: {error}")

    def export_dialog(self, panel, kind: str) -> None:
        filt = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV (*.csv)", "npz": "NumPy (*.npz)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"gptviz-{panel.export_table}.{kind}", filt[kind])
        if path:
            try:
                self._export_dialogs = True
                self.export(panel, kind, path)
            except (OSError, ValueError, KeyError) as e:
                QMessageBox.warning(self, "Export failed", str(e))

    def copy_image(self) -> None:
        """Copy the panel that has the keyboard focus (the whole window if none) to the clipboard."""
        focus = self.focusWidget()
        target = next((p for p in self.panels().values() if focus is not None and p.isAncestorOf(focus)), None)
        export.copy_image(target or self)

