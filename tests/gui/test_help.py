"""Each panel explains itself (tooltip and Help menu), and hover text never describes a previous model."""
import re

from PySide6.QtWidgets import QMessageBox

from gptviz.ui import help_texts

# what each paragraph must name: its axes or rows/columns, and what its colours mean
MUST_NAME = {
    "Prompt": ["background"],
    "Token splits": ["colours", "id"],
    "Embedding and position norms": ["x axis", "y axis", "blue", "orange", "green"],
    "Attention": ["row", "column", "colour", "grey"],
    "Next token": ["x axis", "y axis", "probability"],
    "All heads": ["rows are layers", "columns are heads", "coloured", "grey"],
    "Head statistics": ["row", "columns"],
    "Logit lens": ["rows", "columns", "colour"],
    "Embedding geometry": ["x axis", "y axis", "axes", "colour"],
    "Residual stream": ["rows", "columns", "colour"],
    "Architecture": ["blue", "grey", "shape"],
    "Compare prompts": ["rows", "columns", "colour", "red", "blue"],
    "Logit attribution": ["rows", "columns", "red", "blue", "bars"],
    "Surprisal": ["x axis", "y axis", "colour"],
    "Activation patching": ["rows", "columns", "colour", "white", "red", "blue"],
    "Timeline": ["slider", "x axis", "y axis", "blue", "orange", "purple", "dashed"],
}


def test_every_dock_has_help_naming_axes_and_colours(qtbot, window):
    titles = [d.windowTitle() for d in window.docks()] + ["Attention"]
    assert sorted(titles) == sorted(MUST_NAME)
    for title in titles:
        text = help_texts.text(title)
        assert len(text.split()) >= 30, title                       # a paragraph, not a label
        for word in MUST_NAME[title]:
            assert re.search(rf"\b{re.escape(word)}", text, re.IGNORECASE), (title, word)
    for d in window.docks():
        assert help_texts.text(d.windowTitle()) in d.toolTip().replace("&#x27;", "'")


def test_help_menu_shows_the_panel_paragraph(qtbot, window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    sub = next(a.menu() for a in help_menu.actions() if a.menu() is not None)
    entries = {a.text(): a for a in sub.actions()}
    assert set(entries) == set(MUST_NAME)
    entries["Logit lens"].trigger()
    box = window.findChild(QMessageBox, "panelHelp")
    assert box is not None and box.isVisible()
    assert box.text() == help_texts.text("Logit lens")
    box.close()


def test_model_change_clears_every_hover_readout(qtbot, window, hf_folder):
    cleared = []
    for name, panel in window.panels().items():
        real = getattr(panel, "clear_readout", None)
        # panels without the method yet get one, so that the wiring itself is checked for every panel
        panel.clear_readout = (lambda n=name, r=real: (cleared.append(n), r and r()))
    with qtbot.waitSignal(window.client.modelLoaded, timeout=30000):
        window.load(str(hf_folder))
    assert set(cleared) == set(window.panels())          # (a panel may also clear itself, e.g. in set_model)
    if hasattr(type(window.norms), "clear_readout"):
        del window.norms.clear_readout
        window.norms.readout.setText("#3 old model's value")
        with qtbot.waitSignal(window.client.modelLoaded, timeout=30000):
            window.load(str(hf_folder))
        assert "old model" not in window.norms.readout.text()
