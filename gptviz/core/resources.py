"""Where the shipped data files live: the package `gptviz.resources`, which is the repository's
top-level resources/ folder mapped into the wheel (pyproject.toml), read through importlib.resources."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_dir() -> Path:
    """The folder holding gpt2.tiktoken and models/ (an installed wheel's, or the checkout's)."""
    try:
        root = resources.files("gptviz.resources")
    except ModuleNotFoundError:         # a checkout run without installing (PYTHONPATH=.): the folder beside gptviz/
        return Path(__file__).resolve().parent.parent.parent / "resources"
    # safetensors memory-maps the model by path, so the package must be a real folder (a wheel always
    # unpacks to one); a zipped import would give a Traversable without a path
    return Path(str(root))


def resource(*parts: str) -> Path:
    return resource_dir().joinpath(*parts)
