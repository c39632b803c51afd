"""Start the Qt application: `gptviz [CHECKPOINT] [--prompt TEXT] [--screenshot PNG] [--export-timeline OUT]
[--dtype bf16]`."""
from __future__ import annotations

import ctypes.util
import os
import sys

import pyqtgraph as pg
import tempfile

from PySide6.QtCore import QSettings, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow


def configure_pyqtgraph() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, foreground="#374151")


_NOISE = ("This plugin does not support propagateSizeHints()",)


def _qt_messages(mode, context, message) -> None:
    """Forward Qt's messages to stderr, minus the offscreen plugin's harmless size-hint notice."""
    if message not in _NOISE:
        print(message, file=sys.stderr)


def _has_display() -> bool:
    return (not sys.platform.startswith("linux") or bool(os.environ.get("QT_QPA_PLATFORM"))
            or bool(os.environ.get("DISPLAY")) or bool(os.environ.get("WAYLAND_DISPLAY")))


def check_x11_libraries() -> None:
    """Qt 6's X11 plugin needs libxcb-cursor, which plain Debian/Ubuntu desktops lack; without it Qt
    aborts the process with a long plugin message, so say what to install before it gets that far."""
    env = os.environ
    if (not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM") or not env.get("DISPLAY")
            or env.get("WAYLAND_DISPLAY")):
        return                                       # another platform plugin, or no X display to use
    if ctypes.util.find_library("xcb-cursor") is None:
        raise OSError("Qt's X11 display plugin needs the libxcb-cursor0 library, which is not installed: "
                      "run `sudo apt-get install libxcb-cursor0` (Debian/Ubuntu; `xcb-util-cursor` on "
                      "Fedora and Arch), then start gptviz again")


def run_app(checkpoint=None, prompt=None, screenshot=None, device="auto", dtype=None, export_timeline=None) -> int:
    """dtype: None/"fp32" computes in float32, "bf16"/"fp16" keeps the weights so (gptviz.api.open_model).
    export_timeline: a .png/.svg/.csv path the Timeline dock is written to, as File > Export > Timeline does."""
    if export_timeline and not str(export_timeline).lower().endswith((".png", ".svg", ".csv")):
        raise ValueError(f"--export-timeline writes .png, .svg or .csv, not {export_timeline}")
    headless = screenshot or export_timeline
    if not _has_display():
        if not headless:
            raise OSError("no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
                          "run on a desktop, or render with --screenshot PNG")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"   # a screenshot needs no screen
    check_x11_libraries()
    qInstallMessageHandler(_qt_messages)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gptviz")
    app.setOrganizationName("gptviz")
    configure_pyqtgraph()
    scratch = tempfile.TemporaryDirectory() if headless else None
    # a screenshot neither reads nor changes the user's saved layout
    settings = QSettings(f"{scratch.name}/gptviz.ini", QSettings.IniFormat) if scratch else None
    win = MainWindow(device=device, settings=settings, dtype=dtype)
    if headless:
        win.resize(1600, 1000)
    if prompt is not None:
        win.editor.setPlainText(prompt)
    status = {"code": 0}
    if headless:
        def failed(what, msg):
            print(f"error: {msg}", file=sys.stderr)
            status["code"] = 2
            app.exit(2)
        win.client.loadFailed.connect(failed)

        def shot():
            # wait until the newest prompt is on screen in every panel, then let Qt paint once more
            if win.client.idle and win.current("tokens") is not None and not win.timeline.scoring \
                    and win.current("tokens").prompt.text == win.editor.toPlainText():
                QTimer.singleShot(300, lambda: app.exit(save()))

        def save() -> int:
            if screenshot:
                win.grab().save(screenshot)
            if export_timeline:
                try:
                    if not win.timeline_open:
                        raise ValueError(f"{checkpoint or 'the built-in model'} is not a folder of 2 or more "
                                         "training snapshots, so there is no timeline to export")
                    win.export(win.timeline_dock, str(export_timeline)[-3:].lower(), export_timeline)
                except (OSError, ValueError) as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
            return 0
        win.allShown.connect(shot)
    win.show()
    win.load(checkpoint)
    code = app.exec() or status["code"]
    win.close()
    if not win.worker_stopped:
        # a load or trace is still running in the worker: settings are saved and nothing else is
        # pending, so leave now rather than make the user wait for it (destroying it would abort)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
