"""The prompt editor shows the text you pasted, growing a little before it scrolls."""
import pytest
from PySide6.QtGui import QGuiApplication

from gptviz.ui.prompt import MAX_LINES
from tests.gui.conftest import settle


@pytest.mark.parametrize("tail", ["", "\n\n\n\n"])      # the second as copied with trailing blank lines
def test_pasting_40_lines_shows_the_last_text_line(qtbot, window, tail):
    lines = [f"line {i} of the pasted text" for i in range(40)]
    QGuiApplication.clipboard().setText("\n".join(lines) + tail)
    window.editor.clear()
    window.editor.setFocus()
    window.editor.paste()
    settle(qtbot, window)
    qtbot.wait(20)                                     # the dock's new height is applied after the event
    shown = window.editor.visible_lines()
    text_lines = [t for t in shown if t]
    assert text_lines and text_lines[-1] == lines[-1]   # the end of the paste, not a view of blank lines
    assert shown[-1] == window.editor.textCursor().block().text()   # and the cursor's line
    assert 5 <= len(shown) <= MAX_LINES + 1            # the 3-line box grew, within limits
    if not tail:
        assert len(text_lines) >= 5
    assert window.editor.toPlainText() == "\n".join(lines) + tail


def test_typed_prompt_does_not_grow_the_box(qtbot, window):
    h = window.d_prompt.height()
    window.editor.setPlainText("a short prompt")
    settle(qtbot, window)
    assert window.d_prompt.height() == h


def test_replacing_the_text_is_one_change_with_the_new_text(qtbot):
    """setPlainText empties the editor first (a long replacement costs less so); the emptying is not a change of
    its own: one textChanged, seen with the final text, and the generated-text mark goes."""
    from gptviz.ui.prompt import PromptEditor
    ed = PromptEditor()
    qtbot.addWidget(ed)
    ed.setPlainText("first text")
    ed.mark_generated("first", " text")
    seen = []
    ed.textChanged.connect(lambda: seen.append(ed.toPlainText()))
    ed.setPlainText("second, longer text")
    assert seen == ["second, longer text"]
    assert ed.generated is None and ed.extraSelections() == []
    assert ed.toPlainText() == "second, longer text" and ed.document().blockCount() == 1
