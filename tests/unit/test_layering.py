"""The layers hold: every module of the Qt-free packages imports without Qt, and core never reaches
into the checkpoint loaders (the loaders build models; the core runs them)."""
import subprocess
import sys

from tests.conftest import ROOT

QT_FREE = ("core", "checkpoints", "analysis", "views", "training", "models")

WALK = """
import importlib, pkgutil, sys
import gptviz
names = ["gptviz", "gptviz.api", "gptviz.cli"]
for pkg in {packages!r}:
    try:
        mod = importlib.import_module("gptviz." + pkg)
    except ModuleNotFoundError:
        continue
    names.append(mod.__name__)
    names += [m.name for m in pkgutil.walk_packages(mod.__path__, mod.__name__ + ".")]
for n in names:
    importlib.import_module(n)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph"))
print(len(names), bad)
sys.exit(1 if bad else 0)
"""


def test_every_qt_free_module_imports_without_qt():
    r = subprocess.run([sys.executable, "-c", WALK.format(packages=QT_FREE)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    n_modules = int(r.stdout.split()[0])
    assert n_modules >= 30, r.stdout          # the walk really visits the packages' modules


def test_core_does_not_import_the_loaders():
    code = ("import sys, importlib, pkgutil, gptviz.core as c\n"
            "for m in pkgutil.walk_packages(c.__path__, 'gptviz.core.'): importlib.import_module(m.name)\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('gptviz.checkpoints', 'gptviz.ui', 'gptviz.api')))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_gptviz_is_light():
    code = "import sys, gptviz; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
