"""Architecture view: the loaded model's data flow, parameter counts and tensor shapes for the prompt."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

from ...analysis.architecture import total_params
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
        w, h, gap, y = 330, 46, 12, 0.0
        small = QFont(self.font())
        small.setPointSizeF(self.font().pointSizeF() * 0.85)
        block = {"ln1", "attn", "add1", "ln2", "mlp", "add2"}
        top = None
        for b in self.boxes:
            x = 30 if b.key in block else 0
            fill = LEARNED if b.params else PLAIN       # a tied unembedding reuses wte: no weights of its own
            item = _BoxItem(b.key, QRectF(x, y, w, h), fill, self.boxClicked.emit)
            self.scene.addItem(item)
            title = QGraphicsSimpleTextItem(b.title + (f"   {b.params:,} params" if b.params else ""), item)
            title.setPos(x + 6, y + 3)
            sub = QGraphicsSimpleTextItem(b.shape + (f"   ({b.note})" if b.note else ""), item)
            sub.setFont(small)
            sub.setBrush(QBrush(QColor("#374151")))
            sub.setPos(x + 6, y + 23)
            if b.key == "ln1":
                top = y
            if b.key == "add2":
                frame = self.scene.addRect(QRectF(20, top - 6, w + 20, y + h - top + 12), QPen(QColor("#d97706"), 1.5,
                                                                                          Qt.DashLine))
                frame.setZValue(-1)
                label = self.scene.addSimpleText(f"× {n_layer} blocks")
                label.setPos(w + 45, top)
            y += h + gap
        total = total_params(self.boxes, n_layer)
        self.caption.setText(f"{total:,} learned parameters in all (the tied unembedding counted once). "
                             "Blue boxes hold learned weights; click one to see its output.")

    def box_keys(self) -> list[str]:
        return [b.key for b in self.boxes]
