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


def save_table(path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def frame_tables(frame, layer: int, head: int) -> dict[str, tuple[list[str], list[list]]]:
    """Each panel's numbers as (header, rows) for CSV."""
    toks = frame.tokens
    label = [t.text for t in toks]
    tables = {
        "tokens": (["position", "id", "token", "bytes_hex"],
                   [[i, t.id, t.text, t.bytes.hex()] for i, t in enumerate(toks)]),
        "norms": (["position", "token", "token_embedding_norm", "position_embedding_norm", "input_norm"],
                  [[i, label[i], float(frame.token_embedding_norm[i]), float(frame.position_embedding_norm[i]),
                    float(frame.input_norm[i])] for i in range(frame.T)]),
        "next_token": (["rank", "id", "token", "probability"],
                       [[r, int(i), p.text, float(q)] for r, (i, p, q) in
                        enumerate(zip(frame.top_ids, frame.top_pieces, frame.top_probs))]),
        "head_stats": (["layer", "head", *frame.head_stats],
                       [[i, j, *(float(v[i, j]) for v in frame.head_stats.values())]
                        for i in range(next(iter(frame.head_stats.values())).shape[0])
                        for j in range(next(iter(frame.head_stats.values())).shape[1])]),
    }
    if frame.lens_ids is not None:
        tables["logit_lens"] = (["row", "position", "input_token", *[f"top{k + 1}" for k in range(5)],
                                 *[f"p{k + 1}" for k in range(5)]],
                                [["embedding" if r == 0 else f"block {r - 1}", int(pos), toks[pos].text,
                                  *frame.lens_text[r, c].tolist(), *map(float, frame.lens_probs[r, c])]
                                 for r in range(frame.lens_ids.shape[0])
                                 for c, pos in enumerate(frame.lens_positions)])
    if frame.resid_norm is not None:
        L = frame.attn_norm.shape[0]
        tables["residual"] = (["position", "token", *[f"resid_{r}" for r in range(L + 1)],
                               *[f"attn_{r}" for r in range(L)], *[f"mlp_{r}" for r in range(L)]],
                              [[i, toks[i].text, *map(float, frame.resid_norm[:, i]), *map(float, frame.attn_norm[:, i]),
                                *map(float, frame.mlp_norm[:, i])] for i in range(frame.T)])
    if frame.layer == layer and frame.T:
        m = frame.attention[head]
        tables["attention"] = ([f"L{layer}H{head} query \\ key", *label],
                               [[label[q], *map(float, m[q])] for q in range(frame.T)])
    return tables


def geometry_table(g: dict) -> tuple[list[str], list[list]]:
    return (["position", "position_embedding_norm"], [[p, float(v)] for p, v in enumerate(g["position_norm"])])


def save_npz(path, frame) -> None:
    np.savez(path, token_ids=frame.token_ids, token_embedding_norm=frame.token_embedding_norm,
             position_embedding_norm=frame.position_embedding_norm, input_norm=frame.input_norm,
             layer=frame.layer, attention=frame.attention, thumbnails=frame.thumbnails,
             top_ids=frame.top_ids, top_probs=frame.top_probs,
             **{f"head_{k}": v for k, v in frame.head_stats.items()})


def export_panel(kind: str, path: Path, widget: QWidget, frame, layer: int, head: int) -> None:
    """kind: png, svg, csv (the panel's table) or npz (every number of the frame)."""
    if kind == "png":
        save_png(widget, path)
    elif kind == "svg":
        save_svg(widget, path)
    elif kind == "npz":
        save_npz(path, frame)
    elif widget.export_table == "compare":
        c = widget.comparison
        if c is None:
            raise ValueError("no comparison yet: type a prompt B in the Compare panel")
        save_table(path, ["token", "p_A", "p_B"], [[p.text, float(a), float(b)] for p, a, b in
                                                   zip(c.top_pieces, c.probs_a, c.probs_b)])
    elif widget.export_table == "architecture":
        save_table(path, ["box", "parameters", "output"], [[b.title, b.params, b.shape] for b in widget.boxes])
    elif widget.export_table == "geometry":
        save_table(path, *geometry_table(widget.geometry))
    else:
        header, rows = frame_tables(frame, layer, head)[widget.export_table]
        save_table(path, header, rows)
