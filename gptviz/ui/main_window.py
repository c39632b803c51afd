"""The main window: the prompt editor and every panel in dock widgets around the attention view, menus,
status bar."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QVBoxLayout, QWidget)

from ..views.frame import GenerateJob, Request
from .panels.architecture import ArchitecturePanel
from .panels.attention import AttentionPanel
from .panels.compare import ComparePanel
from .panels.head_stats import HeadStatsPanel
from .panels.geometry import GeometryPanel
from .panels.heads import HeadsPanel
from .panels.logit_lens import LogitLensPanel
from .panels.residual import ResidualPanel
from .panels.next_token import NextTokenPanel
from .panels.norms import NormsPanel
from .panels.tokens import TokensPanel
from . import help_texts
from .prompt import Debouncer, PromptEditor
from .window_export import ExportActions
from .window_files import FileActions
from .window_generation import GenerationActions
from .window_layout import CENTRAL_MIN, LayoutActions, scrolled
from .worker import ModelInfo, WorkerClient

DEFAULT_PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play with her"


class MainWindow(LayoutActions, ExportActions, FileActions, GenerationActions, QMainWindow):
    frameShown = Signal(object)        # the Frame now on screen (for tests and --screenshot)
    exported = Signal(str, str)        # path, "" or why the export failed

    def __init__(self, device: str = "cpu", settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings("gptviz", "gptviz")
        self.setWindowTitle("gptviz")
        self.setAcceptDrops(True)
        self.info: ModelInfo | None = None
        self.frame = None
        self.last_error: str | None = None
        self.worker_stopped = True
        self._next_id = 0
        self.client = WorkerClient(device, self)
        self.client.frameReady.connect(self._on_frame)
        self.client.computeFailed.connect(self._on_compute_failed)
        self.client.modelLoaded.connect(self._on_loaded)
        self.client.geometryReady.connect(self._on_geometry)
        self.client.loadFailed.connect(self._on_load_failed)
        self.client.busyChanged.connect(self._on_busy)
        self.client.generated.connect(self._on_generated)
        self.client.generationDone.connect(self._on_generation_done)
        self.job: GenerateJob | None = None
        self.debouncer = Debouncer(parent=self)
        self.debouncer.fire.connect(self.submit)
        self._build_panels()
        self._build_menus()
        self._build_status()
        self._init_export()
        self.resize(1600, 1000)
        self._init_layout(restored=self._restore())
        self.editor.setPlainText(DEFAULT_PROMPT)        # on screen at once; computed when the model is ready
        self.debouncer.cancel()

    # ---------- construction ----------
    def _dock(self, title: str, widget, area, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(scrolled(widget))
        d.panel = widget
        d.setToolTip(help_texts.tooltip(title))   # shown over the title bar only (LayoutActions.eventFilter)
        d.installEventFilter(self)
        d.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, d)
        return d

    def _build_panels(self) -> None:
        self.editor = PromptEditor()
        self.editor.textChanged.connect(self.debouncer.poke)
        self.editor.heightWanted.connect(self._grow_prompt)
        self.error_banner = QLabel("")
        self.error_banner.setStyleSheet("color: white; background: #dc2626; padding: 3px;")
        self.error_banner.setWordWrap(True)
        self.error_banner.hide()
        prompt_box = QWidget()
        lay = QVBoxLayout(prompt_box)
        lay.setContentsMargins(4, 4, 4, 4)
        self.loading_note = QLabel("")
        self.loading_note.setStyleSheet("color: #92400e; background: #fef3c7; padding: 3px;")
        self.loading_note.hide()
        lay.addWidget(self.editor)
        lay.addWidget(self.loading_note)
        lay.addWidget(self.error_banner)
        self.tokens = TokensPanel()
        self.norms = NormsPanel()
        self.attention = AttentionPanel()
        self.next_token = NextTokenPanel()
        self.heads = HeadsPanel()
        self.head_stats = HeadStatsPanel()
        self.lens = LogitLensPanel()
        self.geometry = GeometryPanel()
        self.residual = ResidualPanel()
        self.architecture = ArchitecturePanel()
        self.compare = ComparePanel()
        self.compare.editor.textChanged.connect(self.debouncer.poke)
        central = scrolled(self.attention)
        central.setMinimumSize(*CENTRAL_MIN)
        self.setCentralWidget(central)
        self.d_prompt = self._dock("Prompt", prompt_box, Qt.TopDockWidgetArea, "prompt")
        self.d_tokens = self._dock("Token splits", self.tokens, Qt.TopDockWidgetArea, "tokens")
        self.splitDockWidget(self.d_prompt, self.d_tokens, Qt.Vertical)
        self.d_norms = self._dock("Embedding and position norms", self.norms, Qt.LeftDockWidgetArea, "norms")
        self.d_lens = self._dock("Logit lens", self.lens, Qt.LeftDockWidgetArea, "lens")
        self.tabifyDockWidget(self.d_norms, self.d_lens)
        self.d_geometry = self._dock("Embedding geometry", self.geometry, Qt.LeftDockWidgetArea, "geometry")
        self.tabifyDockWidget(self.d_lens, self.d_geometry)
        self.d_residual = self._dock("Residual stream", self.residual, Qt.LeftDockWidgetArea, "residual")
        self.tabifyDockWidget(self.d_geometry, self.d_residual)
        self.d_residual.visibilityChanged.connect(lambda visible: visible and self.submit())
        self.d_arch = self._dock("Architecture", self.architecture, Qt.LeftDockWidgetArea, "architecture")
        self.tabifyDockWidget(self.d_residual, self.d_arch)
        self.architecture.boxClicked.connect(self.show_box_output)
        self.d_norms.raise_()
        self.d_lens.visibilityChanged.connect(lambda visible: visible and self.submit())
        self.d_next = self._dock("Next token", self.next_token, Qt.RightDockWidgetArea, "next")
        self.d_heads = self._dock("All heads", self.heads, Qt.RightDockWidgetArea, "heads")
        self.splitDockWidget(self.d_next, self.d_heads, Qt.Vertical)
        self.d_stats = self._dock("Head statistics", self.head_stats, Qt.RightDockWidgetArea, "stats")
        self.tabifyDockWidget(self.d_heads, self.d_stats)
        self.d_compare = self._dock("Compare prompts", self.compare, Qt.RightDockWidgetArea, "compare")
        self.tabifyDockWidget(self.d_stats, self.d_compare)
        self.d_compare.visibilityChanged.connect(lambda visible: visible and self.submit())
        self.d_heads.raise_()
        self.attention.layerChanged.connect(lambda _: self.submit())
        self.next_token.settingsChanged.connect(lambda *_: self.submit())
        self.next_token.candidateClicked.connect(self.append_candidate)
        self.next_token.generateRequested.connect(self.start_generation)
        self.next_token.stopRequested.connect(self.stop_generation)
        self.tokens.tokenClicked.connect(self.attention.set_query)
        self.tokens.follow(self.editor)                  # the token strip scrolls to the cursor's chip
        self.heads.headClicked.connect(self.attention.select)
        self.head_stats.headClicked.connect(self.attention.select)
        self.attention.headSelected.connect(self.heads.set_selected)
        self.attention.queryChanged.connect(self.tokens.chips.set_selected)
        self.tokens.chips.tokenToggled.connect(self.attention.toggle_query)
        self.attention.selectionChanged.connect(self.tokens.chips.set_marked)
        for dock, _ in self._dock_views():
            dock.visibilityChanged.connect(lambda visible, d=dock: self._show_dock(d, visible))
        self._default_state = self.saveState()

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open file…", self.open_file_dialog, QKeySequence.Open)
        self._action(m, "Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self._action(m, "Open from &Hugging Face cache…", self.open_from_hf_cache)
        self._action(m, "Open &built-in model", lambda: self.load(None))
        self.recent_menu = m.addMenu("&Recent files")
        m.addSeparator()
        ex = m.addMenu("&Export")
        for title, panel in self.panels().items():
            sub = ex.addMenu(title)
            for kind, label in (("png", "PNG image…"), ("svg", "SVG vector image…"), ("csv", "Numbers as CSV…"),
                                ("npz", "All numbers as NPZ…")):
                self._action(sub, label, lambda _=False, p=panel, k=kind: self.export_dialog(p, k))
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)
        e = self.menuBar().addMenu("&Edit")
        self._action(e, "&Copy image", self.copy_image, QKeySequence.Copy)
        v = self.menuBar().addMenu("&View")
        for d in self.docks():
            v.addAction(d.toggleViewAction())
        v.addSeparator()
        self._action(v, "&Reset layout", self.reset_layout)
        o = self.menuBar().addMenu("&Options")
        self.bos_action = QAction("Prepend <|endoftext|> (BOS)", self, checkable=True)
        self.bos_action.toggled.connect(lambda _: self.submit())
        o.addAction(self.bos_action)
        h = self.menuBar().addMenu("&Help")
        about = h.addMenu("&What am I looking at?")
        for title in ["Attention"] + [d.windowTitle() for d in self.docks()]:
            self._action(about, title, lambda _=False, t=title: self.show_help(t))
        h.addSeparator()
        self._action(h, "&About gptviz", self._about)
        self._refresh_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.model_label = QLabel("loading…")
        self.latency_label = QLabel("")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        sb.addWidget(self.model_label, 1)
        sb.addPermanentWidget(self.latency_label)
        sb.addPermanentWidget(self.busy)

    def docks(self) -> list[QDockWidget]:
        return [self.d_prompt, self.d_tokens, self.d_norms, self.d_lens, self.d_geometry, self.d_residual,
                self.d_arch, self.d_next, self.d_heads, self.d_stats, self.d_compare]

    def show_help(self, title: str) -> None:
        box = QMessageBox(QMessageBox.Information, title, help_texts.text(title), parent=self)
        box.setObjectName("panelHelp")
        box.open()

    def _restore(self) -> bool:
        """Restore the saved geometry and dock layout; True when a saved layout was applied."""
        geo, state = self.settings.value("geometry"), self.settings.value("windowState")
        if geo is not None:
            self.restoreGeometry(geo)
        return state is not None and self.restoreState(state)

    # ---------- requests ----------
    def submit(self) -> None:
        if self.info is None:
            return
        self._next_id += 1
        created = self.debouncer.first or time.perf_counter()
        req = Request(self._next_id, self.editor.toPlainText(), self.bos_action.isChecked(), self.attention.layer,
                      self.next_token.temperature.value(), self.next_token.k.value(),
                      lens=not self.lens.visibleRegion().isEmpty(),
                      residual=not self.residual.visibleRegion().isEmpty(),
                      compare_text=self.compare.editor.toPlainText() if not self.compare.visibleRegion().isEmpty()
                      else None, created=created)
        self.client.submit(req)

    def _on_frame(self, frame, fresh: bool = True) -> None:
        if frame.request.id < (self.frame.request.id if self.frame else 0):
            return                        # an older request finished after a newer one was shown
        self.frame = frame
        self.error_banner.hide()
        special = {self.info.eot_id} if self.info is not None and self.info.eot_id is not None else set()
        self.tokens.show_frame(frame, len(frame.request.text), special,
                               (self.info.geometry if self.info else {}).get("shared_ids", ()))
        self.attention.show_frame(frame)
        self.tokens.chips.set_marked(self.attention.selection)
        for dock, show in self._dock_views():
            if not dock.panel.visibleRegion().isEmpty():
                show(frame)                 # hidden tabs catch up when they are shown (_show_dock)
        if not self.info.geometry:
            self.client.request_geometry()    # after the first frame: it takes seconds and few panels need it
        if fresh:                             # (a redraw of the same frame is no update to time)
            latency = (time.perf_counter() - frame.request.created) * 1e3
            self.latency_label.setText(f"update {latency:.0f} ms (model {frame.compute_ms:.0f} ms)")
        self.frameShown.emit(frame)

    def _dock_views(self):
        """(dock, how it shows a frame) for the panels that only need updating while visible."""
        return ((self.d_norms, self.norms.show_frame), (self.d_next, self.next_token.show_frame),
                (self.d_heads, self.heads.show_frame), (self.d_stats, self.head_stats.show_frame),
                (self.d_lens, self.lens.show_frame), (self.d_residual, self.residual.show_frame),
                (self.d_arch, lambda f: self.architecture.show_model(self.info, f.T)),
                (self.d_compare, lambda f: self.compare.show_frame(f, self.attention.head)))

    def _show_dock(self, dock, visible: bool) -> None:
        if visible and self.frame is not None:
            dict(self._dock_views())[dock](self.frame)

    def show_box_output(self, key: str) -> None:
        """Architecture view: bring up the panel that shows what a box produces."""
        target = {"wte": self.d_norms, "wpe": self.d_geometry, "add0": self.d_norms, "ln1": self.d_residual,
                  "add1": self.d_residual, "ln2": self.d_residual, "mlp": self.d_residual, "add2": self.d_lens,
                  "lnf": self.d_lens, "unembed": self.d_next, "attn": self.d_heads}[key]
        target.show()
        target.raise_()
        if key == "attn":
            self.attention.setFocus()

    def _on_compute_failed(self, req_id: int, msg: str) -> None:
        self.last_error = msg
        self.error_banner.setText(f"Could not compute this prompt: {msg}")
        self.error_banner.show()
        self.statusBar().showMessage(f"error: {msg}", 10000)

    def _on_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    # ---------- loading ----------
    def load(self, path) -> None:
        what = path or "the built-in model"
        self.model_label.setText(f"loading {what}…")
        self.loading_note.setText(f"Loading {what}… the panels fill in as soon as it is ready.")
        self.loading_note.show()
        self.client.load(None if path is None else str(path))

    def _on_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.frame = None
        self.loading_note.hide()
        self.setWindowTitle(f"gptviz — {info.name}")
        for panel in self.panels().values():
            clear = getattr(panel, "clear_readout", None)   # hover text described the previous model
            if clear is not None:
                clear()
        self.attention.set_model(info.config.n_layer, info.config.n_head)
        self._show_geometry()
        self.bos_action.setEnabled(info.eot_id is not None)
        self._show_model_label()
        if info.fmt != "builtin" and info.source not in ("built-in",) and "resources" not in Path(info.source).parts:
            self._add_recent(info.source)
        if not self.editor.toPlainText():
            self.editor.setPlainText(DEFAULT_PROMPT)
        self.debouncer.cancel()                          # submitted now, not again 100 ms later
        self.submit()

    def _on_geometry(self, info) -> None:
        if info is None or self.info is None or (info.source, info.name) != (self.info.source, self.info.name):
            return                               # for a model that is no longer loaded
        self.info = info
        self._show_geometry()
        if self.frame is not None:
            self._on_frame(self.frame, fresh=False)   # token chips and norms mark the shared embedding rows

    def _show_geometry(self) -> None:
        g = self.info.geometry
        if "position_norm" in g:
            self.geometry.set_geometry(g)
        self.norms.set_shared_ids(g.get("shared_ids"))

    def _on_load_failed(self, what: str, msg: str) -> None:
        self.last_error = msg
        self.loading_note.hide()
        box = QMessageBox(QMessageBox.Warning, "Could not open checkpoint",
                          f"{what} could not be opened.\n\n{msg}" +
                          ("\n\nThe previous model is still loaded." if self.info else ""), parent=self)
        box.setObjectName("loadError")
        box.open()
        self._show_model_label()
        if self.info is None:
            self.load(None)                  # nothing was loaded yet: fall back to the built-in model

    def _show_model_label(self) -> None:
        i = self.info
        if i is None:
            self.model_label.setText("no model loaded")
            return
        c = i.config
        self.model_label.setText(
            f"{i.name}  ·  {c.n_params() / 1e6:.2f}M params  ·  {c.n_layer} layers × {c.n_head} heads, "
            f"d_model {c.n_embd}  ·  context {c.block_size}  ·  {i.tokenizer} tokenizer"
            + ("  ·  ⚠ " + "; ".join(i.warnings) if i.warnings else ""))

    def _about(self) -> None:
        from .. import __version__
        QMessageBox.about(self, "About gptviz", f"gptviz {__version__}\nLook inside GPT-style language models.")

    # ---------- drag and drop ----------
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        urls = e.mimeData().urls()
        if urls and urls[0].isLocalFile():
            self.load(urls[0].toLocalFile())
            e.acceptProposedAction()

    # ---------- closing ----------
    def closeEvent(self, e) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.sync()
        self.debouncer.blockSignals(True)
        self.worker_stopped = self.client.shutdown()
        super().closeEvent(e)

