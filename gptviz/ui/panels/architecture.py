"""Architecture view: the loaded model's data flow (its family's real block: norms, MLP kind, parallel or
post-LN residual, q/k norms, positions, head), parameter counts and tensor shapes for the prompt."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import (QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsTextItem,
                               QGraphicsView, QWidget)

from ...analysis.architecture import BLOCK, total_params
from ...views import Architecture
from ..state import prompt_comment
from ..widgets.common import note, stack

LEARNED, PLAIN = QColor("#dbeafe"), QColor("#f3f4f6")


class _BoxItem(QGraphicsRectItem):
    def __init__(self, key, rect, fill, on_click):
        super().__init__(rect)
        self.key, self.on_click = key, on_click
        self.setBrush(QBrush(fill))
        self.setPen(QPen(fill.darker(150), 1))
        self.setCursor(Qt.PointingHandCursor)

    def mousePressEvent(self, e):
        self.on_click(self.key)


class ArchitecturePanel(QWidget):
    boxClicked = Signal(str)
    export_table = "architecture"
    attr, title, dock, area, place = "architecture", "Architecture", "architecture", "left", ("tab", "residual")
    dock_attr = "d_arch"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scene = QGraphicsScene(self)
        self.view = QGraphicsView(self.scene)
        self.caption = note("Blue boxes hold learned weights. Click a box to see its output.")
        stack(self, self.view, self.caption, stretch=self.view)
        self.boxes = []
        self.result = None

    def wants(self, state):
        return Architecture()

    def numbers(self):
        return (["box", "parameters", "output"], [[b.title, b.params, b.shape] for b in self.boxes],
                [prompt_comment(self.result)])

    def show_result(self, result, state=None) -> None:
        if self.result is not None and result.boxes == self.result.boxes:
            self.result = result                     # same model and length: the drawing stands
            return
        self.result, self.boxes = result, result.boxes
        n_layer = result.n_layer
        self.scene.clear()
        w, gap, y = 380, 12, 0.0
        half = (w - 30 - gap) / 2                       # a parallel pair: attention | MLP side by side
        small = QFont(self.font())
        small.setPointSizeF(self.font().pointSizeF() * 0.85)
        # rows: a full-width box, or a left/right pair drawn side by side at the taller one's height
        rows: list[list] = []
        for b in self.boxes:
            if b.lane == 2 and rows and rows[-1][0].lane == 1:
                rows[-1].append(b)
            else:
                rows.append([b])
        top = bottom = None
        for row in rows:
            drawn, h = [], 0.0
            for b in row:
                inside = b.key in BLOCK
                x = {0: 30 if inside else 0, 1: 30, 2: 30 + half + gap}[b.lane]
                bw = (w - (30 if inside else 0)) if b.lane == 0 else half
                count = f"{b.params:,} params" if b.params else ""
                # a half-width box puts its count under the title, where it has room
                title = QGraphicsSimpleTextItem(b.title + (f"   {count}" if count and not b.lane else ""))
                # the shape and every note on lines of their own, wrapped to the box: nothing is clipped
                sub = QGraphicsTextItem()
                sub.setFont(small)
                sub.setDefaultTextColor(QColor("#374151"))
                sub.setTextWidth(bw - 8)
                sub.setPlainText("\n".join(([count] if count and b.lane else []) + [b.shape]
                                            + [n for n in b.note.split("; ") if n]))
                h = max(h, 22 + sub.boundingRect().height())
                drawn.append((b, x, bw, title, sub))
            for b, x, bw, title, sub in drawn:
                fill = LEARNED if b.params else PLAIN   # a tied unembedding reuses the embedding: no weights of its own
                item = _BoxItem(b.goes or b.key, QRectF(x, y, bw, h), fill, self.boxClicked.emit)
                item.setToolTip(f"{b.title}\n{b.shape}" + (f"\n{b.note}" if b.note else ""))
                self.scene.addItem(item)
                for t, dy in ((title, 3), (sub, 18)):
                    t.setParentItem(item)
                    t.setPos(x + (6 if t is title else 2), y + dy)
                item.setFlag(item.GraphicsItemFlag.ItemClipsChildrenToShape, True)
                if b.key in BLOCK:
                    top = y if top is None else top
                    bottom = y + h
            y += h + gap
        if top is not None:
            frame = self.scene.addRect(QRectF(20, top - 22, w - 10, bottom - top + 28),
                                       QPen(QColor("#d97706"), 1.5, Qt.DashLine))
            frame.setZValue(-1)
            label = self.scene.addSimpleText(f"× {n_layer} blocks")
            label.setBrush(QBrush(QColor("#b45309")))
            label.setPos(w - 10 - label.boundingRect().width(), top - 20)
        total = total_params(self.boxes, n_layer)
        self.caption.setText(f"{total:,} learned parameters in all (a tied unembedding counted once). "
                             "Blue boxes hold learned weights; hover for details, click one to see its output.")

    def box_keys(self) -> list[str]:
        return [b.key for b in self.boxes]
