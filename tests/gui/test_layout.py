"""What the window looks like at any size: docks keep readable sizes and their share of the window, whole tab titles."""
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QTabBar, QToolTip


def _resize(qtbot, win, w, h):
    win.resize(w, h)
    qtbot.waitUntil(lambda: win.size().toTuple() == (w, h))
    qtbot.wait(50)                                  # the deferred share pass runs after Qt's own layout


def _dock_bars(win):
    return [b for b in win.findChildren(QTabBar) if b.parent() is win and b.isVisible()]


def test_tab_titles_are_whole_at_1600(qtbot, window):
    _resize(qtbot, window, 1600, 1000)
    titles = {d.windowTitle() for d in window.docks()}
    bars = _dock_bars(window)
    assert len(bars) >= 2                           # the left and the right tab groups
    for bar in bars:
        fm = bar.fontMetrics()
        for i in range(bar.count()):
            text = bar.tabText(i)
            assert text in titles and "…" not in text
            # elided tabs are drawn narrower than their text ("Lo…"); whole ones are at least as wide as it
            assert bar.tabRect(i).width() >= fm.horizontalAdvance(text), (text, bar.tabRect(i).width())


def test_docks_keep_their_share_after_shrinking_and_growing(qtbot, window):
    _resize(qtbot, window, 1600, 1000)
    left0, right0 = window.d_norms.width(), window.d_next.width()
    assert left0 >= 0.2 * 1600 and right0 >= 0.25 * 1600     # readable at the start, not crushed to ~120 px
    _resize(qtbot, window, 800, 600)
    for d in (window.d_norms, window.d_next, window.d_heads):
        assert d.width() >= 200, d.windowTitle()
    # the heads dock starts below the next-token dock, whose sampling controls stay inside it
    assert window.d_heads.geometry().top() > window.d_next.geometry().bottom()
    assert window.next_token.generate.isVisibleTo(window)
    _resize(qtbot, window, 1600, 1000)
    qtbot.waitUntil(lambda: window.d_norms.width() >= left0 - 2 and window.d_next.width() >= right0 - 2)


def test_dragged_sizes_are_kept_across_resizes(qtbot, window):
    _resize(qtbot, window, 1600, 1000)
    window.resizeDocks([window.d_norms], [600], Qt.Horizontal)   # what a separator drag does
    qtbot.wait(20)
    window.capture_shares()                                       # runs on the drag's mouse release
    _resize(qtbot, window, 1000, 700)
    _resize(qtbot, window, 1600, 1000)
    qtbot.waitUntil(lambda: abs(window.d_norms.width() - 600) <= 4)


def test_panel_help_on_title_not_over_the_plot(qtbot, window):
    d = window.d_norms
    assert d.toolTip().startswith("<qt><b>Embedding and position norms</b>") and "length (L2 norm)" in d.toolTip()
    inside = d.widget().geometry().center()
    ev = QHelpEvent(QEvent.ToolTip, inside, d.mapToGlobal(inside))
    assert window.eventFilter(d, ev) is True                      # swallowed: no paragraph over the curves
    title = QPoint(10, 5)
    ev = QHelpEvent(QEvent.ToolTip, title, d.mapToGlobal(title))
    assert window.eventFilter(d, ev) is False
    QApplication.sendEvent(d, ev)
    assert QToolTip.isVisible() and "token embedding" in QToolTip.text()
    QToolTip.hideText()
