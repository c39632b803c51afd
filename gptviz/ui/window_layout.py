"""Dock layout of the main window: minimum sizes, proportions kept across resizes, tab titles never elided.

QMainWindow hands every extra pixel to the central widget and takes every missing one from the docks,
so a window shrunk and grown back keeps crushed docks. We keep each dock group's share of the window
instead, re-apply it after every resize, and change the shares only when the user drags a separator.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QStyle, QTabBar

from . import help_texts

# fractions of the window's width (left, right column) and height (the docks of each column, top to bottom)
DEFAULT_SHARES = {"width": {Qt.LeftDockWidgetArea: 0.27, Qt.RightDockWidgetArea: 0.33},
                  "height": {Qt.TopDockWidgetArea: [0.10, 0.115], Qt.RightDockWidgetArea: [0.42, 0.38]}}
MIN_WIDTH = {Qt.LeftDockWidgetArea: 200, Qt.RightDockWidgetArea: 260}   # px; below this plots are unreadable
MIN_HEIGHT = {"prompt": 56, "tokens": 80, "next": 150, "heads": 150}
CENTRAL_MIN = (300, 200)


class FitScrollArea(QScrollArea):
    """A frameless scroll area that gives its panel the whole viewport, or the panel's minimum size where
    that is larger: a dock smaller than the panel then scrolls instead of overlapping its neighbours or
    forcing the window to stay large.

    (widgetResizable=True would not do: for layouts with word-wrapped labels it takes the panel's
    preferred height for the width as the minimum, so every panel scrolled.)
    """

    def __init__(self, widget):
        super().__init__()
        self.setFrameShape(QFrame.NoFrame)
        self.setWidget(widget)
        widget.installEventFilter(self)

    def fit(self) -> None:
        w = self.widget()
        need = w.minimumSizeHint().expandedTo(w.minimumSize())
        room = self.maximumViewportSize()
        bar = self.style().pixelMetric(QStyle.PM_ScrollBarExtent)
        width = room.width() - (bar if need.height() > room.height() else 0)
        height = room.height() - (bar if need.width() > width else 0)
        w.resize(QSize(max(width, need.width()), max(height, need.height())))

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.fit()

    def eventFilter(self, obj, e) -> bool:
        if obj is self.widget() and e.type() == QEvent.LayoutRequest:
            QTimer.singleShot(0, self, self.fit)    # the panel's minimum may have changed (none once deleted)
        return super().eventFilter(obj, e)


def scrolled(widget) -> QScrollArea:
    return FitScrollArea(widget)


class LayoutActions:
    """Mixed into MainWindow; uses its docks (self.docks()) and saved state."""

    def _init_layout(self, restored: bool) -> None:
        self.shares = {k: dict(v) for k, v in DEFAULT_SHARES.items()}
        self._capture_on_show = restored        # a restored layout's sizes are the user's: keep them
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.timeout.connect(self.apply_shares)
        for d in self.docks():
            name = d.objectName()
            if name in MIN_HEIGHT:
                d.setMinimumHeight(MIN_HEIGHT[name])
            d.dockLocationChanged.connect(self._dock_moved)
            d.topLevelChanged.connect(lambda _: QTimer.singleShot(0, self.fix_tab_bars))
            d.visibilityChanged.connect(lambda _: QTimer.singleShot(0, self.fix_tab_bars))
        self._dock_moved()
        self.tabifiedDockWidgetActivated.connect(lambda _: self.fix_tab_bars())
        self.installEventFilter(self)           # separator drags arrive at the main window itself

    def _dock_moved(self, *_) -> None:
        for d in self.docks():
            d.setMinimumWidth(MIN_WIDTH.get(self.dockWidgetArea(d), 0) if not d.isFloating() else 0)
        QTimer.singleShot(0, self.fix_tab_bars)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        self.shares = {k: dict(v) for k, v in DEFAULT_SHARES.items()}
        self.apply_shares()

    # ---------- which docks stand for each column ----------
    def _shown(self, area) -> list[QDockWidget]:
        """One dock per tab group of `area` (docked, not closed), top to bottom."""
        out, seen = [], set()
        for d in self.docks():
            if d in seen or self.dockWidgetArea(d) != area or d.isFloating() or d.isHidden():
                continue
            seen.update([d, *self.tabifiedDockWidgets(d)])
            out.append(d)
        return sorted(out, key=lambda d: d.y())

    def apply_shares(self) -> None:
        W, H = self.width(), self.height()
        columns = [(a, self._shown(a)) for a in self.shares["width"]]
        columns = [(a, ds[0]) for a, ds in columns if ds]
        if columns:
            self.resizeDocks([d for _, d in columns], [round(self.shares["width"][a] * W) for a, _ in columns],
                             Qt.Horizontal)
        for area, fractions in self.shares["height"].items():
            ds = self._shown(area)
            if ds and len(ds) == len(fractions):   # the user re-arranged this column: leave its heights alone
                self.resizeDocks(ds, [round(f * H) for f in fractions], Qt.Vertical)
        self.fix_tab_bars()

    def capture_shares(self) -> None:
        """The user resized docks: their new sizes become the shares kept from now on."""
        W, H = max(1, self.width()), max(1, self.height())
        for area in list(self.shares["width"]):
            ds = self._shown(area)
            if ds:
                self.shares["width"][area] = ds[0].width() / W
        for area in list(self.shares["height"]):
            ds = self._shown(area)
            if ds:
                self.shares["height"][area] = [d.height() / H for d in ds]

    # ---------- tab titles ----------
    def fix_tab_bars(self) -> None:
        """Dock tab bars show whole titles (scroll arrows when they do not fit) and the panel's help as tooltip.

        QMainWindow creates these bars lazily when docks are tabified, so this runs whenever that may happen.
        """
        titles = {d.windowTitle() for d in self.docks()}
        for bar in self.findChildren(QTabBar):
            if bar.parent() is not self:
                continue                           # a panel's own tabs, not a dock group
            bar.setElideMode(Qt.ElideNone)
            bar.setUsesScrollButtons(True)
            for i in range(bar.count()):
                if bar.tabText(i) in titles:
                    bar.setTabToolTip(i, help_texts.tooltip(bar.tabText(i)))

    # ---------- events ----------
    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._layout_timer.start(0)            # after Qt has laid the docks out for the new size

    def showEvent(self, e) -> None:
        super().showEvent(e)
        if self._capture_on_show:
            self._capture_on_show = False
            QTimer.singleShot(0, self.capture_shares)
        else:
            self._layout_timer.start(0)

    def eventFilter(self, obj, e) -> bool:
        if obj is self and e.type() == QEvent.MouseButtonRelease:
            QTimer.singleShot(0, self.capture_shares)   # a separator drag just ended
        elif (e.type() == QEvent.ToolTip and isinstance(obj, QDockWidget) and obj.widget() is not None
              and obj.widget().geometry().contains(e.pos())):
            return True      # the panel's paragraph belongs to the title bar, not over every plot it contains
        return super().eventFilter(obj, e)
