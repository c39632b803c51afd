"""The main window's menu bar: File (open, recent, export of every panel), Edit, View (each dock), Options,
Help (each panel's "what am I looking at?"); the slots live with the mixins that do the work."""
from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from . import help_texts
from .panels import CENTRAL


class MenuActions:
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
        self._timeline_export_menu(ex)                  # window_timeline.py: enabled while a timeline is open
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
        self.bos_action = QAction("Prepend BOS", self, checkable=True)   # labelled with the model's token on load
        self.bos_action.toggled.connect(lambda _: self.submit())
        o.addAction(self.bos_action)
        h = self.menuBar().addMenu("&Help")
        about = h.addMenu("&What am I looking at?")
        for title in [CENTRAL.title] + [d.windowTitle() for d in self.docks()]:
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

    def show_help(self, title: str) -> None:
        box = QMessageBox(QMessageBox.Information, title, help_texts.text(title), parent=self)
        box.setObjectName("panelHelp")
        box.open()

    def _about(self) -> None:
        from .. import __version__
        QMessageBox.about(self, "About gptviz", f"gptviz {__version__}\nLook inside GPT-style language models.")
