"""The main window: the prompt editor and every panel (declared in panels.PANELS) in dock widgets around
the attention view, menus, status bar; each visible panel's view is requested, and drawn as it arrives."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from ..views import Attention, Geometry, ModelPass, Prompt, Tokens
from ..views.generation import GenerateJob
from . import help_texts
from .panels import CENTRAL, PANELS
from .prompt import Debouncer, PromptEditor
from .ablations import Ablations
from .gui_gc import collect_on_gui_thread
from .state import ViewState
from .window_export import ExportActions
from .window_files import FileActions
from .window_generation import GenerationActions
from .window_layout import CENTRAL_MIN, LayoutActions, scrolled
from .window_menus import MenuActions
from .window_timeline import TimelineActions
from .worker import ModelInfo, WorkerClient

DEFAULT_PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play with her"
AREAS = {"left": Qt.LeftDockWidgetArea, "right": Qt.RightDockWidgetArea, "top": Qt.TopDockWidgetArea}


class MainWindow(MenuActions, TimelineActions, LayoutActions, ExportActions, FileActions, GenerationActions, QMainWindow):
    resultShown = Signal(object)       # a view's result was drawn (tests, benchmarks)
    allShown = Signal()                # the worker went idle: every visible panel holds its newest result
    exported = Signal(str, str)        # path, "" or why the export failed

    def __init__(self, device: str = "cpu", settings: QSettings | None = None, dtype=None):
        super().__init__()
        collect_on_gui_thread()                         # before the worker thread exists
        self.settings = settings or QSettings("gptviz", "gptviz")
        self.setWindowTitle("gptviz")
        self.setAcceptDrops(True)
        self.info: ModelInfo | None = None
        self.last_error: str | None = None
        self.worker_stopped = True
        self._next_id = 0
        self.wanted: dict[str, object] = {}     # panel attr -> the view it asked for last
        self.shown_seq: dict[str, int] = {}     # panel attr -> submission id of the result it shows
        self.view_state: ViewState | None = None
        self._model_seq = 0                     # submissions before this model was loaded
        self._failed_seq = -1
        self._created: dict[int, float] = {}    # submission id -> when the edit that caused it happened
        self.client = WorkerClient(device, self, dtype=dtype)
        self.client.resultReady.connect(self._on_result)
        self.client.computeFailed.connect(self._on_compute_failed)
        self.client.modelLoaded.connect(self._on_loaded)
        self.client.loadFailed.connect(self._on_load_failed)
        self.client.busyChanged.connect(self._on_busy)
        self.client.jobFinished.connect(self._on_job_finished)
        self.client.drawNow.connect(self._draw_now)
        self.client.generated.connect(self._on_generated)
        self.client.generationDone.connect(self._on_generation_done)
        self.job: GenerateJob | None = None
        self.debouncer = Debouncer(parent=self)
        self.debouncer.fire.connect(self.submit)
        self._build_panels()
        self._build_menus()
        self._init_ablations()
        self.patching.attach(self)                      # its sweeps run in the worker, on Run
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

    def _prompt_box(self) -> QWidget:
        self.editor = PromptEditor()
        self.editor.textChanged.connect(self.debouncer.poke)
        self.editor.textChanged.connect(self._prepare)
        self.editor.heightWanted.connect(self._grow_prompt)
        self.error_banner = QLabel("")
        self.error_banner.setStyleSheet("color: white; background: #dc2626; padding: 3px;")
        self.error_banner.setWordWrap(True)
        self.error_banner.hide()
        self.loading_note = QLabel("")
        self.loading_note.setStyleSheet("color: #92400e; background: #fef3c7; padding: 3px;")
        self.loading_note.hide()
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (self.editor, self.loading_note, self.error_banner):
            lay.addWidget(w)
        return box

    def _build_panels(self) -> None:
        self.d_prompt = self._dock("Prompt", self._prompt_box(), Qt.TopDockWidgetArea, "prompt")
        self.attention = CENTRAL()
        central = scrolled(self.attention)
        central.setMinimumSize(*CENTRAL_MIN)
        self.setCentralWidget(central)
        self.panel_list = []
        self._docks = [self.d_prompt]
        by_name = {"prompt": self.d_prompt}
        for cls in PANELS:
            panel = cls()
            setattr(self, cls.attr, panel)
            d = self._dock(cls.title, panel, AREAS[cls.area], cls.dock)
            setattr(self, getattr(cls, "dock_attr", "d_" + cls.dock), d)
            if cls.place is not None:
                how, other = cls.place
                if how == "tab":
                    self.tabifyDockWidget(by_name[other], d)
                else:
                    self.splitDockWidget(by_name[other], d, Qt.Vertical)
            by_name[cls.dock] = d
            self.panel_list.append(panel)
            self._docks.append(d)
            d.visibilityChanged.connect(lambda visible: visible and self.submit())   # hidden: computed when shown
        self.d_norms.raise_()
        self.d_heads.raise_()
        self.d_next.raise_()                            # in front of Logit attribution, its tab
        self.compare.editor.textChanged.connect(self.debouncer.poke)
        self.architecture.boxClicked.connect(self.show_box_output)
        self.attention.layerChanged.connect(lambda _: self.submit())
        self.attention.windowChanged.connect(self.submit)          # a long prompt zoomed in: its exact cells
        self.next_token.settingsChanged.connect(lambda *_: self.submit())
        self.next_token.candidateClicked.connect(self.append_candidate)
        self.next_token.generateRequested.connect(self.start_generation)
        self.next_token.stopRequested.connect(self.stop_generation)
        self.tokens.tokenClicked.connect(self.attention.set_query)
        self.tokens.follow(self.editor)                  # the token strip scrolls to the cursor's chip
        self.heads.headClicked.connect(self.attention.select)
        self.head_stats.headClicked.connect(self.attention.select)
        self.attribution.headClicked.connect(self.attention.select)
        self.attribution.changed.connect(self.submit)
        self.resultShown.connect(lambda r: r is not None and self.attribution.offer(r))
        self.attention.headSelected.connect(self.heads.set_selected)
        self.attention.headSelected.connect(self._head_changed)
        self.attention.queryChanged.connect(self.tokens.chips.set_selected)
        self.tokens.chips.tokenToggled.connect(self.attention.toggle_query)
        self.attention.selectionChanged.connect(self.tokens.chips.set_marked)
        self._init_timeline()                           # hidden until a folder of training snapshots is opened
        self._default_state = self.saveState()

    def _init_ablations(self) -> None:
        self.ablations = Ablations(self)
        self.ablations.install(self.menuBar())
        self.ablations.changed.connect(self.submit)
        for panel in (self.heads, self.head_stats):
            panel.headMenuRequested.connect(lambda layer, head, pos: self.ablations.context_menu(
                f"head {layer}.{head}", lambda mode: self.ablations.add_head(layer, head, mode), pos))
        self.attribution.mlpMenuRequested.connect(lambda layer, pos: self.ablations.context_menu(
            f"MLP {layer}", lambda mode: self.ablations.add_mlp(layer, mode), pos))

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
        return list(self._docks)

    def panels(self) -> dict:
        return {p.title: p for p in [self.attention, *self.panel_list]}

    def _restore(self) -> bool:
        """Restore the saved geometry and dock layout; True when a saved layout was applied."""
        geo, state = self.settings.value("geometry"), self.settings.value("windowState")
        if geo is not None:
            self.restoreGeometry(geo)
        return state is not None and self.restoreState(state)

    # ---------- requests ----------
    def state(self) -> ViewState:
        return ViewState(Prompt(self.editor.toPlainText(), self.bos_action.isChecked(), self.ablations.current()),
                         self.attention.layer,
                         self.attention.head, self.next_token.temperature.value(), self.next_token.k.value(),
                         self.compare.editor.toPlainText(), self.info)

    def visible(self, panel) -> bool:
        return not panel.visibleRegion().isEmpty()

    def submit(self) -> None:
        """Ask for the view of every visible panel (hidden ones compute nothing until shown)."""
        if self.info is None:
            return
        st = self.view_state = self.state()
        # a panel may want several views (the attention overview and a zoomed window): the first is its main one
        self.wanted = {p.attr: p.wants(st) for p in [self.attention, *self.panel_list] if self.visible(p)}
        self.wanted.setdefault("tokens", Tokens())      # the model pass: always, however the docks are arranged
        views = [v for w in self.wanted.values() for v in (w if isinstance(w, tuple) else (w,)) if v is not None]
        if not self.info.geometry:
            views.append(Geometry())         # the chips and norms mark shared embedding rows; computed last
        created = self.debouncer.first or time.perf_counter()
        seq, hits = self.client.submit(st.prompt, views)
        self._created = {seq: created}
        for view, result in hits:
            self._on_result(seq, view, result)

    def _prepare(self) -> None:
        """Start the edited prompt's model pass now; its views are asked for when the debounce fires."""
        if self.info is not None:
            self.client.submit(self.state().prompt, [ModelPass()])

    def current(self, attr: str):
        """The result panel `attr` shows if it is for the current prompt and settings, else None."""
        r = getattr(self, attr).result
        want = self.wanted.get(attr)
        want = want[0] if isinstance(want, tuple) else want
        if r is None or want is None or r.view != want or self.shown_seq.get(attr, -1) <= self._model_seq:
            return None
        return r if r.prompt is None or r.prompt == self.view_state.prompt else None

    def _on_result(self, seq: int, view, result) -> None:
        if isinstance(view, Geometry):
            self._set_geometry(result.geometry)
            self.geometry.show_result(result, self.view_state)   # drawn once per model, shown or not
            self.shown_seq["geometry"] = seq
        for p in [self.attention, *self.panel_list]:
            w = self.wanted.get(p.attr)
            if (view in w if isinstance(w, tuple) else w == view) and seq >= self.shown_seq.get(p.attr, -1) \
                    and p is not self.geometry:
                # a memoised result the panel already shows (a layer switch re-asks for every view): no redraw
                if result is None or result is not p.result and result is not getattr(p, "zoom", None):
                    p.show_result(result, self.view_state)
                self.shown_seq[p.attr] = seq
        if isinstance(view, (Attention, Tokens)):
            self.tokens.chips.set_marked(self.attention.selection)
        if seq > self._failed_seq and isinstance(view, Tokens):
            self.error_banner.hide()
        self.resultShown.emit(result)

    def _draw_now(self, seq: int, rounds: int = 3) -> None:
        """The worker waits while the results it handed over are drawn: a few event-loop turns go by (a
        scene's update request posts the window's paint request, which the next turn delivers), then it
        goes on. Each turn delivers what is posted by then, input and timers run between them; sending the
        posted events here instead drew every panel in one block (20-36 ms at 1,024 tokens)."""
        if rounds > 1:
            QTimer.singleShot(0, self, lambda: self._draw_now(seq, rounds - 1))
        else:
            self.client.draw_done()

    def _head_changed(self, layer: int, head: int) -> None:
        if self.compare.result is not None and self.view_state is not None:
            self.compare.show_result(self.compare.result, replace(self.view_state, head=head))

    def _on_job_finished(self, seq: int) -> None:
        if seq in self._created and self.client.idle:
            self.latency_label.setText(f"update {(time.perf_counter() - self._created.pop(seq)) * 1e3:.0f} ms")

    def show_box_output(self, key: str) -> None:
        """Architecture view: bring up the panel that shows what a box produces."""
        target = {"wte": self.d_norms, "wpe": self.d_geometry, "add0": self.d_norms, "ln1": self.d_residual,
                  "add1": self.d_residual, "ln2": self.d_residual, "mlp": self.d_residual, "add2": self.d_lens,
                  "lnf": self.d_lens, "unembed": self.d_next, "attn": self.d_heads}[key]
        target.show()
        target.raise_()
        if key == "attn":
            self.attention.setFocus()

    def _on_compute_failed(self, seq: int, msg: str) -> None:
        self.last_error = msg
        self._failed_seq = seq
        self.error_banner.setText(f"Could not compute this prompt: {msg}")
        self.error_banner.show()
        self.statusBar().showMessage(f"error: {msg}", 10000)

    def _on_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        if not busy:
            self.allShown.emit()

    # ---------- loading ----------
    def load(self, path, want: str | None = None) -> None:
        """`want`: in a folder of training snapshots, the one to show first (default the newest)."""
        what = path or "the built-in model"
        self.model_label.setText(f"loading {what}…")
        self.loading_note.setText(f"Loading {what}… the panels fill in as soon as it is ready.")
        self.loading_note.show()
        self.timeline.cancel_swaps()                    # this load wins over snapshot swaps still queued
        if path is not None and Path(str(path)).is_dir():
            self.timeline.open_folder(str(path), want)  # 2+ training snapshots: the Timeline; else a plain load
        else:
            self.client.load(None if path is None else str(path))

    def _on_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self._model_seq = self.client.scheduler.seq     # what is on screen now belongs to the previous model
        self.loading_note.hide()
        self.setWindowTitle(f"gptviz — {info.name}")
        for panel in self.panels().values():
            clear = getattr(panel, "clear_readout", None)   # hover text described the previous model
            if clear is not None:
                clear()
        self.attention.set_model(info.config.n_layer, info.config.n_head)
        self.norms.set_shared_ids(None)
        self._set_bos_default(info)
        self._show_model_label()
        if info.fmt != "builtin" and info.source not in ("built-in",) and "resources" not in Path(info.source).parts \
                and not self.in_timeline(info.source):  # a timeline's folder is the recent entry, not each step
            self._add_recent(info.source)
        if not self.editor.toPlainText():
            self.editor.setPlainText(DEFAULT_PROMPT)
        self.debouncer.cancel()                          # submitted now, not again 100 ms later
        self.submit()

    def _set_geometry(self, g: dict) -> None:
        self.info = replace(self.info, geometry=g)
        self.view_state = replace(self.view_state, info=self.info)
        self.norms.set_shared_ids(g.get("shared_ids"))
        if self.tokens.result is not None:
            self.tokens.show_result(self.tokens.result, self.view_state)   # the chips mark the shared rows

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
