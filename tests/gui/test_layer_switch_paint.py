"""A layer switch repaints the heatmap, not the token strip: the strip's marks only change when the selection
does, and a whole-strip repaint costs the GUI thread ~10 ms at 512 tokens while the worker computes the layer."""
from PySide6.QtCore import QEvent, QObject

from .conftest import settle


class PaintCounter(QObject):
    def __init__(self):
        super().__init__()
        self.n = 0

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Paint:
            self.n += 1
        return False


def test_layer_switch_leaves_the_token_strip_unpainted(qtbot, window):
    window.editor.setPlainText("one two three two three four five six")
    settle(qtbot, window)
    chips, a = window.tokens.chips, window.attention
    assert chips.isVisible()
    counter = PaintCounter()
    chips.installEventFilter(counter)
    qtbot.wait(50)
    counter.n = 0
    before = window.current("attention")
    a.select(1, 0)
    qtbot.waitUntil(lambda: window.current("attention") is not before and window.client.idle, timeout=60000)
    qtbot.wait(50)
    assert counter.n == 0                                        # same tokens, same marks: nothing to redraw
    chips.set_marked([2])                                        # a new mark does repaint
    qtbot.waitUntil(lambda: counter.n > 0, timeout=5000)
    assert chips.marked == {2}
