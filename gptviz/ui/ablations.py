"""The ablation set the whole window sees: heads and MLPs knocked out (zeroed, or replaced by their mean over
the prompt's positions) in the trace every panel's views are computed from.

The model runs one mode per trace, so the set has one mode: choosing "mean-ablate" for one entry switches the
whole set to mean (the Ablations menu says which). Entries stay listed when toggled off, until cleared.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from ..views.base import Ablated

MODE_TEXT = {"zero": "zero-ablate", "mean": "mean-ablate (mean over the prompt's positions)"}


class Ablations(QObject):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.heads: dict[tuple[int, int], bool] = {}    # (layer, head) -> on
        self.mlps: dict[int, bool] = {}                 # layer -> on
        self.mode = "zero"
        self.menu: QMenu | None = None

    # ---------- the set ----------
    def current(self) -> Ablated | None:
        """What the traces use (None: the clean model)."""
        hs = tuple(sorted(k for k, on in self.heads.items() if on))
        ms = tuple(sorted(k for k, on in self.mlps.items() if on))
        return Ablated(hs, ms, self.mode) if hs or ms else None

    def add_head(self, layer: int, head: int, mode: str) -> None:
        self.heads[(int(layer), int(head))] = True
        self._set_mode(mode)

    def add_mlp(self, layer: int, mode: str) -> None:
        self.mlps[int(layer)] = True
        self._set_mode(mode)

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self._changed()

    def toggle_head(self, layer: int, head: int, on: bool) -> None:
        self.heads[(layer, head)] = on
        self._changed()

    def toggle_mlp(self, layer: int, on: bool) -> None:
        self.mlps[layer] = on
        self._changed()

    def clear(self) -> None:
        self.heads.clear()
        self.mlps.clear()
        self._changed()

    def _changed(self) -> None:
        self._fill_menu()
        self.changed.emit()

    # ---------- menus ----------
    def install(self, menubar) -> QMenu:
        """The Ablations menu: one checkable entry per ablated part, the mode, and Clear."""
        self.menu = menubar.addMenu("&Ablations")
        self._fill_menu()
        return self.menu

    def _fill_menu(self) -> None:
        m = self.menu
        if m is None:
            return
        m.clear()
        if not self.heads and not self.mlps:
            a = m.addAction("Nothing ablated: right-click a head in All heads or Head statistics, "
                            "or an MLP bar in Logit attribution")
            a.setEnabled(False)
            return
        for (layer, head), on in sorted(self.heads.items()):
            self._check(m, f"head {layer}.{head}", on, lambda c, k=(layer, head): self.toggle_head(*k, c))
        for layer, on in sorted(self.mlps.items()):
            self._check(m, f"MLP {layer}", on, lambda c, k=layer: self.toggle_mlp(k, c))
        m.addSeparator()
        for mode in ("zero", "mean"):
            self._check(m, "mode: " + MODE_TEXT[mode], self.mode == mode, lambda c, k=mode: c and self._set_mode(k))
        m.addSeparator()
        m.addAction("Clear all ablations", self.clear)

    def _check(self, menu, text, on, slot) -> QAction:
        a = menu.addAction(text)
        a.setCheckable(True)
        a.setChecked(on)
        a.toggled.connect(slot)
        return a

    def context_menu(self, what: str, add, pos) -> None:
        """A right-click on a head or an MLP: zero- or mean-ablate it (add(mode) records it)."""
        menu = QMenu()
        for mode in ("zero", "mean"):
            menu.addAction(f"{what}: {MODE_TEXT[mode]}", lambda m=mode: add(m))
        if self.heads or self.mlps:
            menu.addAction("Clear all ablations", self.clear)
        menu.exec(pos)
