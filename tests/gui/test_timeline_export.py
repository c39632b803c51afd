"""File > Export > Timeline: the CSV holds one row per snapshot, checked against gptviz.timeline.score_model on
each snapshot loaded afresh and the metadata read straight from its file; the PNG is the dock as on screen with
the curves drawn in their colours; the SVG parses and its curve paths hold the same numbers. The menu entry is
enabled only while a timeline is open, and `gptviz FOLDER --export-timeline OUT` writes the same CSV headless."""
import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from safetensors import safe_open

import gptviz
from gptviz.timeline import score_model
from gptviz.ui.timeline_dock import IND, LOSS, PREV
from tests.gui.test_timeline_dock import REPEATS, _open, _paths, run_folder  # noqa: F401 (run_folder: a fixture)


def _read(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    rows = list(csv.reader(x for x in lines if not x.startswith("#")))
    return [x for x in lines if x.startswith("#")], rows[0], rows[1:]


def _check_csv(path, paths, prompt=REPEATS):
    """Every cell against a fresh load of each snapshot (numbers) and its file's own metadata (step, tokens)."""
    comments, header, rows = _read(path)
    assert comments[0] == "# prompt: " + json.dumps(prompt, ensure_ascii=False)
    assert len(rows) == len(paths)
    col = {h: i for i, h in enumerate(header)}
    for row, p in zip(rows, paths):
        with safe_open(p, "np") as f:
            meta = json.loads(f.metadata()["snapshot"])
        assert int(row[col["step"]]) == meta["step"] and int(row[col["tokens_seen"]]) == meta["tokens_seen"]
        val = meta.get("val_loss")
        if val:
            assert float(row[col["val_loss"]]) == pytest.approx(np.mean(list(val.values())), abs=1e-6)
        else:
            assert row[col["val_loss"]] == ""
        s = score_model(gptviz.load(p), prompt)
        L, H = s.prev.shape
        assert float(row[col["loss"]]) == pytest.approx(s.loss, abs=1e-5)
        for which, key, a in (("prev", "prev", s.prev), ("induction", "ind", s.induction)):
            layer, head = np.unravel_index(np.nanargmax(a), a.shape)
            got = [row[col[f"best_{which}_{k}"]] for k in ("layer", "head", "score")]
            assert (int(got[0]), int(got[1])) == (layer, head)
            assert float(got[2]) == pytest.approx(a[layer, head], abs=1e-6)
            for i in range(L):
                for j in range(H):
                    assert float(row[col[f"{key}_L{i}H{j}"]]) == pytest.approx(a[i, j], abs=1e-6)
    assert len(header) == 10 + 2 * L * H
    return rows


def _color_xs(img: QImage, color: str) -> np.ndarray:
    """x of every pixel exactly `color` (the centre of a drawn curve)."""
    img = img.convertToFormat(QImage.Format_RGB32)
    w, h = img.width(), img.height()
    a = np.frombuffer(img.constBits(), np.uint32, count=w * h).reshape(h, w)   # (h, w) 0xAARRGGBB
    return np.nonzero(a == np.uint32(QColor(color).rgb()))[1]


def _svg_curves(path) -> dict[tuple[str, str], list[np.ndarray]]:
    """(stroke colour, width) -> the y values of each path drawn so (the plots' data coordinates: 'M0,y L1,y …')."""
    root = ET.parse(path).getroot()
    out: dict = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        for p in g.findall("{http://www.w3.org/2000/svg}path"):
            d = p.get("d", "").split()
            if not d or any(t[0] not in "ML" for t in d):       # a symbol or a box, not a polyline
                continue
            pts = [tuple(map(float, t[1:].split(","))) for t in d]
            out.setdefault((g.get("stroke"), g.get("stroke-width")), []).append(np.array(pts))
    return out


def test_export_timeline_csv_png_svg(qtbot, window, run_folder, tmp_path):
    paths = _paths(run_folder)
    _open(qtbot, window, run_folder)
    dock = window.timeline_dock

    window.export(dock, "csv", tmp_path / "t.csv")
    _check_csv(tmp_path / "t.csv", paths)

    window.export(dock, "png", tmp_path / "t.png")
    img = QImage(str(tmp_path / "t.png"))
    dpr = dock.devicePixelRatio()
    assert not img.isNull() and (img.width(), img.height()) == (dock.width() * dpr, dock.height() * dpr)
    for plot, colors in ((dock.loss_plot, (LOSS,)), (dock.score_plot, (PREV, IND))):
        rect = dock.view.mapFromScene(plot.sceneBoundingRect()).boundingRect()
        left = (dock.view.mapTo(dock, rect.topLeft()).x()) * dpr
        for c in colors:                  # each curve is drawn, inside its own plot
            xs = _color_xs(img, c)
            assert len(xs) > 100 and xs.min() >= left and xs.max() <= left + rect.width() * dpr

    window.export(dock, "svg", tmp_path / "t.svg")
    curves = _svg_curves(tmp_path / "t.svg")
    refs = [score_model(gptviz.load(p), REPEATS) for p in paths]
    for key, want in (((LOSS, "2"), [s.loss for s in refs]), ((PREV, "2"), [s.prev.max() for s in refs]),
                      ((IND, "2"), [np.nanmax(s.induction) for s in refs])):
        (pts,) = curves[key]              # one solid curve of that colour: x = snapshot index, y = the score
        np.testing.assert_array_equal(pts[:, 0], np.arange(len(paths)))
        np.testing.assert_allclose(pts[:, 1], want, rtol=1e-4)


def test_export_menu_only_while_a_timeline_is_open(qtbot, window, run_folder, hf_folder, tmp_path, monkeypatch):
    menu = window.timeline_export.menuAction()
    assert not menu.isEnabled() and "open a folder of training snapshots" in menu.text()
    with pytest.raises(ValueError, match="no numbers yet"):      # asked anyway (a script): said why
        window.export(window.timeline_dock, "csv", tmp_path / "none.csv")

    _open(qtbot, window, run_folder)
    assert menu.isEnabled() and menu.text() == "Timeline"
    labels = {a.text(): a for a in window.timeline_export.actions()}
    assert list(labels) == ["PNG image…", "SVG vector image…", "Numbers as CSV…"]
    out = tmp_path / "menu.csv"
    monkeypatch.setattr("gptviz.ui.window_export.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), ""))
    labels["Numbers as CSV…"].trigger()
    _check_csv(out, _paths(run_folder))

    with qtbot.waitSignal(window.client.modelLoaded, timeout=60000):   # a plain model: the entry is disabled again
        window.load(str(hf_folder))
    assert not menu.isEnabled() and "open a folder" in menu.text()


def test_export_with_no_scores_says_why(qtbot, window, run_folder, tmp_path):
    _open(qtbot, window, run_folder, prompt="the")
    with pytest.raises(ValueError, match="needs at least 2"):
        window.export(window.timeline_dock, "csv", tmp_path / "short.csv")
    assert not (tmp_path / "short.csv").exists()


def test_cli_export_timeline_writes_the_csv_headless(run_folder, hf_folder, tmp_path):
    out = tmp_path / "cli.csv"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "gptviz", str(run_folder), "--prompt", REPEATS, "--export-timeline"]
    r = subprocess.run(cmd + [str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    _check_csv(out, _paths(run_folder))
    bad = subprocess.run(cmd + [str(tmp_path / "cli.txt")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "writes .png, .svg or .csv" in bad.stderr
    plain = subprocess.run([sys.executable, "-m", "gptviz", str(hf_folder), "--prompt", REPEATS,
                            "--export-timeline", str(tmp_path / "plain.csv")], capture_output=True, text=True, env=env)
    assert plain.returncode == 2 and "not a folder of 2 or more training snapshots" in plain.stderr
    assert not (tmp_path / "plain.csv").exists()
