"""The wheel works anywhere: it carries resources/ as gptviz.resources, and an install of it (not the
editable checkout) runs `gptviz inspect` and opens the app on the built-in model from a foreign folder."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# What a build reads: everything else (tests, screenshots, caches) stays out of the copy.
_SOURCES = ("pyproject.toml", "README.md", "gptviz", "resources")


def test_pyproject_lists_every_package():
    tomllib = pytest.importorskip("tomllib")          # Python 3.11+
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gptviz").rglob("__init__.py")}
    assert listed == found | {"gptviz.resources"}


def _setuptools_recent() -> bool:
    try:
        import setuptools
    except ImportError:          # Python 3.12+ venvs come without it
        return False
    return int(setuptools.__version__.split(".")[0]) >= 68


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in _SOURCES:        # build from a copy: setuptools writes build/ and *.egg-info beside the sources
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "screenshots"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("wheel")
    # this venv's setuptools when it is recent enough (fast, offline); else pip fetches it for the build
    isolation = ["--no-build-isolation"] if _setuptools_recent() else []
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                        "-w", str(out), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("gptviz-*.whl")
    return whl


def test_wheel_carries_the_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gptviz/resources/gpt2.tiktoken", "gptviz/resources/models/default.safetensors",
            "gptviz/resources/__init__.py", "gptviz/ui/panels/attention.py"} <= names
    with zipfile.ZipFile(wheel) as z:     # the real files, not placeholders
        assert z.getinfo("gptviz/resources/models/default.safetensors").file_size == \
            (ROOT / "resources/models/default.safetensors").stat().st_size


def test_installed_wheel_runs_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # dependencies (torch, tiktoken, PySide6...) come from this venv; a plain .pth line adds the folder
    # to sys.path without running its .pth files, so the editable install's finder stays out
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.check_output([str(py), "-c", "import gptviz.core.tokenizer as t, gptviz; "
                                     "print(gptviz.__file__); print(t.GPT2_RANKS_FILE)"], cwd=work, env=env, text=True)
    pkg_file, ranks = where.split()
    assert Path(pkg_file).is_relative_to(venv) and Path(ranks).is_relative_to(venv)

    r = subprocess.run([str(venv / "bin" / "gptviz"), "inspect", "--prompt", "Once upon a", "--json"],
                       cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "gptviz-default" and out["top_k"][0]["token"] == " time"

    png = tmp_path / "window.png"
    r = subprocess.run([str(venv / "bin" / "gptviz"), "--prompt", "Once upon a", "--screenshot", str(png)],
                       cwd=work, env={**env, "QT_QPA_PLATFORM": "offscreen"}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
