"""File actions of the main window: open a checkpoint file, folder or Hugging Face cache entry (any family, any\ncached revision); recent files."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QLabel, QMessageBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

MAX_RECENT = 8


class HFCacheDialog(QDialog):
    """Every model in the local Hugging Face cache: name, family, size on disk; unsupported ones greyed
    with their model_type and why; a model with several revisions (Pythia's step… branches) picks one."""

    def __init__(self, models, cache: str, parent=None):
        super().__init__(parent)
        from ..checkpoints.hf_cache import human_size
        self.setWindowTitle("Open from Hugging Face cache")
        self.models = models
        self.table = QTableWidget(len(models), 4)
        self.table.setHorizontalHeaderLabels(["model", "family", "size", "revisions"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        grey = QColor("#9ca3af")
        for r, m in enumerate(models):
            family = (m.family if m.model_type == m.family else f"{m.family} ({m.model_type})") if m.supported \
                else m.why if "not supported" in m.why else f"cannot open: {m.why}"
            cells = [m.repo_id, family, human_size(m.size), str(len(m.revisions))]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if not m.supported:           # listed, so the user sees it was found, but not selectable
                    item.setFlags(item.flags() & ~(Qt.ItemIsSelectable | Qt.ItemIsEnabled))
                    item.setForeground(grey)
                    item.setToolTip(f"{m.repo_id}: {m.why}; supported families: gpt2, gpt_neo, gptj, gpt_neox, "
                                    f"opt, llama/mistral/qwen2/qwen3, gemma, phi")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.revision = QComboBox()
        self.table.itemSelectionChanged.connect(self._fill_revisions)
        self.table.cellDoubleClicked.connect(lambda *_: self.accept() if self.selected_path() else None)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        n = sum(m.supported for m in models)
        note = QLabel(f"{n} of {len(models)} cached models can be opened (from {cache}). Greyed rows are "
                      f"families gptviz does not compute; their model_type is shown.")
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Revision:", self.revision)
        lay = QVBoxLayout(self)
        for w in (note, self.table):
            lay.addWidget(w)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self.resize(760, 420)
        first = next((r for r, m in enumerate(models) if m.supported), None)
        if first is not None:
            self.table.selectRow(first)
        self._fill_revisions()

    def selected(self):
        rows = self.table.selectionModel().selectedRows()
        m = self.models[rows[0].row()] if rows else None
        return m if m is not None and m.supported else None

    def _fill_revisions(self) -> None:
        m = self.selected()
        self.revision.clear()
        for rev in (m.revisions if m else []):
            self.revision.addItem(rev.label if rev.label.startswith(rev.commit[:10]) else
                                  f"{rev.label}  ({rev.commit[:10]})", str(rev.path))
        self.revision.setEnabled(m is not None and len(m.revisions) > 1)
        self.buttons.button(QDialogButtonBox.Open).setEnabled(m is not None)

    def selected_path(self) -> str | None:
        return self.revision.currentData() if self.selected() is not None else None


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
        from ..checkpoints.hf_cache import cache_dir, cached_models
        models = cached_models()
        if not models:
            QMessageBox.information(self, "Hugging Face cache", f"No models were found in the local Hugging Face "
                                    f"cache ({cache_dir()}; HF_HUB_CACHE or HF_HOME choose another).")
            return
        self.hf_dialog = dlg = HFCacheDialog(models, str(cache_dir()), self)
        if dlg.exec() == QDialog.Accepted and dlg.selected_path():
            path = dlg.selected_path()
            steps = sum(r.step is not None for r in dlg.selected().revisions)
            # Pythia-style step revisions: the cache entry opens as a timeline, at the revision picked
            self.load(str(Path(path).parents[1]), want=path) if steps >= 2 else self.load(path)

    def _set_bos_default(self, info) -> None:
        """Options > Prepend BOS for a newly loaded model: labelled with its token, on when the checkpoint
        expects one (tokenizer_config.json add_bos_token, Llama-style), disabled when it has none."""
        a = self.bos_action
        a.blockSignals(True)                  # the load submits the prompt once, with the new default
        a.setText(f"Prepend {info.bos_text} (BOS)" if info.bos_id is not None else "Prepend BOS (this tokenizer has none)")
        a.setEnabled(info.bos_id is not None)
        a.setChecked(bool(info.add_bos))
        a.blockSignals(False)

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
