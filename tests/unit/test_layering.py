"""The core runs without a display: core, checkpoints and analysis never import Qt."""
import subprocess
import sys

from tests.conftest import ROOT


def test_core_imports_no_qt():
    code = ("import sys, gptviz, gptviz.core.session, gptviz.checkpoints.registry, gptviz.analysis, gptviz.cli, "
            "gptviz.train; bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_gptviz_is_light():
    code = "import sys, gptviz; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
