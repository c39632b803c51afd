"""Export actions of the main window: every panel to PNG/SVG/CSV/NPZ, and Edit > Copy image."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import export


class ExportActions:
    """Mixed into MainWindow; uses its panels, docks and current frame."""

    def panels(self) -> dict:
        return {"Token splits": self.tokens, "Embedding and position norms": self.norms,
                "Attention": self.attention, "Next token": self.next_token, "All heads": self.heads,
                "Head statistics": self.head_stats, "Logit lens": self.lens, "Embedding geometry": self.geometry,
                "Residual stream": self.residual, "Architecture": self.architecture, "Compare prompts": self.compare}

    def export(self, panel, kind: str, path) -> None:
        if self.frame is None:
            raise ValueError("nothing to export yet")
        for dock, show in self._dock_views():
            if dock.panel is panel:
                show(self.frame)            # a hidden tab may not have drawn the current frame yet
        export.export_panel(kind, Path(path), panel, self.frame, self.attention.layer, self.attention.head)

    def export_dialog(self, panel, kind: str) -> None:
        filt = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV (*.csv)", "npz": "NumPy (*.npz)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"gptviz-{panel.export_table}.{kind}", filt[kind])
        if path:
            try:
                self.export(panel, kind, path)
            except (OSError, ValueError, KeyError) as e:
                QMessageBox.warning(self, "Export failed", str(e))

    def copy_image(self) -> None:
        """Copy the panel that has the keyboard focus (the whole window if none) to the clipboard."""
        focus = self.focusWidget()
        target = next((p for p in self.panels().values() if focus is not None and p.isAncestorOf(focus)), None)
        export.copy_image(target or self)

