"""Export what a panel shows: PNG exactly as on screen, SVG (vector), and its numbers as CSV / NPZ."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QWidget


def save_png(widget: QWidget, path) -> None:
    """The panel as it is on screen, selections and highlights included."""
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")


def save_svg(widget: QWidget, path) -> None:
    """Vector export of the panel as shown, through Qt's SVG generator.

    (pyqtgraph 0.14's SVGExporter fails on the path data Qt 6 writes for curves, so it is not used.)
    """
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(widget.size())
    gen.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    painter = QPainter(gen)
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()


def copy_image(widget: QWidget) -> None:
    QApplication.clipboard().setPixmap(widget.grab())


def save_table(path, header: list[str], rows: list[list], comments: list[str] = ()) -> None:
    """CSV with `comments` first, as lines starting with '#' (pandas: read_csv(path, comment='#'))."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        for c in comments:
            f.write(c + "\n")
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# the arrays each shown result contributes to the NPZ (name in the file: attribute of the result)
NPZ_FIELDS = {"Norms": ("token_embedding_norm", "position_embedding_norm", "input_norm"),
              "NextToken": ("top_ids", "top_probs"), "Overview": ("thumbnails",),
              "Lens": {"lens_positions": "positions", "lens_ids": "ids", "lens_probs": "probs"},
              "Residual": ("resid_norm", "attn_norm", "mlp_norm")}


def save_npz(path, prompt, results, attention: np.ndarray, layer: int, head: int) -> None:
    """Every number on screen for `prompt` (`results`: the panels' results, those of other prompts are
    left out), with `attention` (L, H, T, T): every layer's pattern, from the worker."""
    extras = {}
    tokens = None
    for r in results:
        if r is None or r.prompt != prompt:
            continue
        tokens = r.tokens
        fields = NPZ_FIELDS.get(r.view.name, ())
        for out, attr in (fields.items() if isinstance(fields, dict) else zip(fields, fields)):
            extras[out] = getattr(r, attr)
        if hasattr(r, "head_stats"):
            extras.update({f"head_{k}": v for k, v in r.head_stats.items()})
        if r.view.name == "NextToken":
            extras["temperature"] = r.view.temperature
    if tokens is None:
        raise ValueError("nothing to export yet")
    np.savez(path, prompt=np.array(prompt.text), token_ids=np.array([t.id for t in tokens], np.int64),
             tokens=np.array([t.text for t in tokens], dtype=str),
             token_bytes_hex=np.array([t.bytes.hex() for t in tokens], dtype=str),
             attention=attention, selected_layer=layer, selected_head=head, **extras)


def export_panel(kind: str, path: Path, widget: QWidget) -> None:
    """kind: png, svg or csv (the panel's numbers()). NPZ needs every layer's attention: see save_npz."""
    if kind == "png":
        save_png(widget, path)
    elif kind == "svg":
        save_svg(widget, path)
    else:
        if getattr(widget, "result", None) is None:
            raise ValueError("this panel has no numbers yet: show it once so that they are computed")
        save_table(path, *widget.numbers())
