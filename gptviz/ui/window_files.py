"""File actions of the main window: open a checkpoint file, folder or Hugging Face cache entry; recent files."""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

MAX_RECENT = 8


class FileActions:
    """Mixed into MainWindow; uses its settings, recent-files menu and load()."""

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "",
                                              "Checkpoints (*.safetensors *.bin *.pt *.pth *.ckpt);;All files (*)")
        if path:
            self.load(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open checkpoint folder")
        if path:
            self.load(path)

    def open_from_hf_cache(self) -> None:
        from ..checkpoints.hf import cached_gpt2_models
        models = cached_gpt2_models()
        if not models:
            QMessageBox.information(self, "Hugging Face cache",
                                    "No GPT-2-family models were found in the local Hugging Face cache.")
            return
        name, ok = QInputDialog.getItem(self, "Open from Hugging Face cache", "Model:", [m for m, _ in models], 0, False)
        if ok:
            self.load(dict(models)[name])

    def _add_recent(self, path: str) -> None:
        recent = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recentFiles", ([path] + recent)[:MAX_RECENT])
        self._refresh_recent()

    def recent_files(self) -> list[str]:
        v = self.settings.value("recentFiles") or []
        return [v] if isinstance(v, str) else list(v)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.load(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))
