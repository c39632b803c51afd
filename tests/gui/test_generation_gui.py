"""Generation from the window: click a candidate to append it; Generate N token by token, stoppable."""
import gptviz
from gptviz.core.generate import generate
from tests.gui.conftest import settle


def test_click_candidate_appends_it(qtbot, window, hf_folder):
    window.editor.setPlainText("The cat sat on the")
    settle(qtbot, window)
    best = window.frame.top_pieces[0]
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
    assert window.frame.request.text == "Once upon a" + want
    assert window.next_token.generate.text() == "Generate"


def test_stop_generation(qtbot, window):
    window.editor.setPlainText("Stop me")
    settle(qtbot, window)
    window.next_token.n.setValue(1000)
    steps = []
    window.client.generated.connect(lambda *_: steps.append(1) if len(steps) < 3 else window.stop_generation())
    with qtbot.waitSignal(window.client.generationDone, timeout=60000):
        window.next_token.generate.click()
    assert len(steps) < 1000
    settle(qtbot, window)
