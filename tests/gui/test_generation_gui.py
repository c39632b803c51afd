"""Generation from the window: click a candidate to append it; Generate N token by token, stoppable."""
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

import gptviz
from gptviz.core.generate import generate
from tests.gui.conftest import settle


def test_click_candidate_appends_it(qtbot, window, hf_folder):
    window.editor.setPlainText("The cat sat on the")
    settle(qtbot, window)
    best = window.next_token.result.top_pieces[0]
    window.next_token.candidateClicked.emit(0)
    settle(qtbot, window)
    assert window.editor.toPlainText() == "The cat sat on the" + best.bytes.decode()


def test_generate_matches_core_and_updates_panels(qtbot, window, hf_folder):
    window.editor.setPlainText("Once upon a")
    settle(qtbot, window)
    window.next_token.temperature.setValue(0.8)
    settle(qtbot, window)
    window.next_token.n.setValue(12)
    window.next_token.seed.setValue(5)
    steps = []
    window.client.generated.connect(lambda _id, text: steps.append(text))
    with qtbot.waitSignal(window.client.generationDone, timeout=60000):
        window.next_token.generate.click()
    settle(qtbot, window)
    want = generate(gptviz.load(str(hf_folder)), "Once upon a", 12, temperature=0.8, top_k=40, top_p=0.95, seed=5)
    assert window.editor.toPlainText() == "Once upon a" + want
    assert len(steps) == 12                         # appended token by token
    assert window.tokens.result.prompt.text == "Once upon a" + want
    assert window.next_token.generate.text() == "Generate"
    # the generated characters, and only they, are marked
    (sel,) = window.editor.extraSelections()
    start = len("Once upon a".encode("utf-16-le")) // 2
    assert (sel.cursor.selectionStart(), sel.cursor.selectionEnd()) == (start, start + len(want.encode("utf-16-le")) // 2)
    assert sel.cursor.selectedText() == want.replace("\n", "\u2029")   # Qt's paragraph separator
    assert sel.format.background().color().name() != window.editor.palette().base().color().name()
    # once the user edits, it is their text
    window.editor.moveCursor(QTextCursor.End)
    qtbot.keyClicks(window.editor, "!")
    assert window.editor.extraSelections() == []


def test_stop_generation(qtbot, window):
    window.editor.setPlainText("Stop me")
    settle(qtbot, window)
    window.next_token.n.setValue(1000)
    made = []                        # continuations as the worker produced them, counted in its own thread
    window.client._worker.generated.connect(lambda _id, text: made.append(text), Qt.DirectConnection)
    shown, at_stop = [], []

    def on_step(_id, text):
        shown.append(text)
        if len(shown) == 3:
            at_stop.append(len(made))
            window.next_token.generate.click()      # the button reads "Stop" while generating
    window.client.generated.connect(on_step)
    with qtbot.waitSignal(window.client.generationDone, timeout=60000):
        window.next_token.generate.click()
    assert window.next_token.generate.text() == "Generate"
    # the worker checks between tokens: at most the token it was sampling when Stop came is added
    assert len(made) <= at_stop[0] + 1 < 1000
    settle(qtbot, window)
    assert window.editor.toPlainText() == "Stop me" + made[-1]
