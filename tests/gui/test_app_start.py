"""Starting the app on a desktop that lacks Qt's X11 dependency gives one clear error line, not a Qt abort."""
import ctypes.util

import pytest

from gptviz import cli
from gptviz.ui import app


@pytest.fixture
def x11(monkeypatch):
    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    asked = []
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: asked.append(name) or None)
    return asked


def test_missing_xcb_cursor_is_one_error_line(x11, capsys):
    assert cli.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "sudo apt-get install libxcb-cursor0" in err[0]
    assert x11 == ["xcb-cursor"]


def test_installed_library_or_other_platform_passes(x11, monkeypatch):
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libxcb-cursor.so.0")
    app.check_x11_libraries()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setenv("QT_QPA_PLATFORM", "wayland")    # the user chose another plugin
    app.check_x11_libraries()
    monkeypatch.delenv("QT_QPA_PLATFORM")
    with pytest.raises(OSError, match="libxcb-cursor0"):
        app.check_x11_libraries()
