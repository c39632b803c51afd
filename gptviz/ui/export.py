"""Export what a panel shows: PNG exactly as on screen, SVG (vector), and its numbers as CSV / NPZ."""
from __future__ import annotations

import csv
import json
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


def prompt_comment(frame) -> str:
    """One line naming the prompt the numbers belong to (JSON-quoted, so newlines stay on the line)."""
    return "# prompt: " + json.dumps(frame.request.text, ensure_ascii=False)


def save_table(path, header: list[str], rows: list[list], comments: list[str] = ()) -> None:
    """CSV with `comments` first, as lines starting with '#' (pandas: read_csv(path, comment='#'))."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        for c in comments:
            f.write(c + "\n")
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def frame_tables(frame, layer: int, head: int) -> dict[str, tuple[list[str], list[list], list[str]]]:
    """Each panel's numbers as (header, rows, extra comment lines) for CSV; per-position tables carry token ids."""
    toks = frame.tokens
    label = [t.text for t in toks]
    tables = {
        "tokens": (["position", "token_id", "token", "bytes_hex"],
                   [[i, t.id, t.text, t.bytes.hex()] for i, t in enumerate(toks)], []),
        "norms": (["position", "token_id", "token", "token_embedding_norm", "position_embedding_norm", "input_norm"],
                  [[i, toks[i].id, label[i], float(frame.token_embedding_norm[i]),
                    float(frame.position_embedding_norm[i]), float(frame.input_norm[i])] for i in range(frame.T)], []),
        "next_token": (["rank", "token_id", "token", "probability"],
                       [[r, int(i), p.text, float(q)] for r, (i, p, q) in
                        enumerate(zip(frame.top_ids, frame.top_pieces, frame.top_probs))],
                       [f"# temperature: {frame.request.temperature}"]),
        "head_stats": (["layer", "head", *frame.head_stats],
                       [[i, j, *(float(v[i, j]) for v in frame.head_stats.values())]
                        for i in range(next(iter(frame.head_stats.values())).shape[0])
                        for j in range(next(iter(frame.head_stats.values())).shape[1])], []),
    }
    if frame.lens_ids is not None:
        tables["logit_lens"] = (["row", "position", "input_token_id", "input_token",
                                 *[f"top{k + 1}" for k in range(5)], *[f"top{k + 1}_id" for k in range(5)],
                                 *[f"p{k + 1}" for k in range(5)]],
                                [["embedding" if r == 0 else f"block {r - 1}", int(pos), toks[pos].id, toks[pos].text,
                                  *frame.lens_text[r, c].tolist(), *map(int, frame.lens_ids[r, c]),
                                  *map(float, frame.lens_probs[r, c])]
                                 for r in range(frame.lens_ids.shape[0])
                                 for c, pos in enumerate(frame.lens_positions)], [])
    if frame.resid_norm is not None:
        L = frame.attn_norm.shape[0]
        tables["residual"] = (["position", "token_id", "token", *[f"resid_{r}" for r in range(L + 1)],
                               *[f"attn_{r}" for r in range(L)], *[f"mlp_{r}" for r in range(L)]],
                              [[i, toks[i].id, toks[i].text, *map(float, frame.resid_norm[:, i]),
                                *map(float, frame.attn_norm[:, i]), *map(float, frame.mlp_norm[:, i])]
                               for i in range(frame.T)], [])
    if frame.layer == layer and frame.T:
        m = frame.attention[head]                                  # (T, T) query rows, key columns
        tables["attention"] = (["query_position", "query_token_id", "query_token",
                                *[f"key {j} {label[j]}" for j in range(frame.T)]],
                               [[q, toks[q].id, label[q], *map(float, m[q])] for q in range(frame.T)],
                               [f"# attention of layer {layer}, head {head}: rows are queries, columns keys",
                                "# key token ids: " + " ".join(str(t.id) for t in toks)])
    return tables


def geometry_table(g: dict) -> tuple[list[str], list[list]]:
    return (["position", "position_embedding_norm"], [[p, float(v)] for p, v in enumerate(g["position_norm"])])


def save_npz(path, frame, attention: np.ndarray, head: int) -> None:
    """Every number of the frame, with `attention` (L, H, T, T): every layer's pattern, from the worker."""
    extras = {k: getattr(frame, k) for k in ("lens_positions", "lens_ids", "lens_probs", "resid_norm", "attn_norm",
                                              "mlp_norm") if getattr(frame, k) is not None}
    np.savez(path, prompt=np.array(frame.request.text), token_ids=frame.token_ids,
             tokens=np.array([t.text for t in frame.tokens], dtype=str),
             token_bytes_hex=np.array([t.bytes.hex() for t in frame.tokens], dtype=str),
             token_embedding_norm=frame.token_embedding_norm,
             position_embedding_norm=frame.position_embedding_norm, input_norm=frame.input_norm,
             attention=attention, selected_layer=frame.layer, selected_head=head, thumbnails=frame.thumbnails,
             top_ids=frame.top_ids, top_probs=frame.top_probs, temperature=frame.request.temperature,
             **{f"head_{k}": v for k, v in frame.head_stats.items()}, **extras)


def export_panel(kind: str, path: Path, widget: QWidget, frame, layer: int, head: int) -> None:
    """kind: png, svg or csv (the panel's table). NPZ needs every layer's attention: see save_npz."""
    if kind == "png":
        save_png(widget, path)
    elif kind == "svg":
        save_svg(widget, path)
    elif widget.export_table == "compare":
        c = widget.comparison
        if c is None:
            raise ValueError("no comparison yet: type a prompt B in the Compare panel")
        save_table(path, ["token_id", "token", "p_A", "p_B"],
                   [[int(i), p.text, float(a), float(b)] for i, p, a, b in
                    zip(c.top_ids, c.top_pieces, c.probs_a, c.probs_b)],
                   [prompt_comment(frame), "# prompt B: " + json.dumps(frame.request.compare_text or "",
                                                                       ensure_ascii=False)])
    elif widget.export_table == "architecture":
        save_table(path, ["box", "parameters", "output"], [[b.title, b.params, b.shape] for b in widget.boxes],
                   [prompt_comment(frame)])
    elif widget.export_table == "geometry":
        save_table(path, *geometry_table(widget.geometry))
    else:
        tables = frame_tables(frame, layer, head)
        if widget.export_table not in tables:
            raise ValueError("this panel has no numbers yet: show it once so that they are computed")
        header, rows, comments = tables[widget.export_table]
        save_table(path, header, rows, [prompt_comment(frame), *comments])
