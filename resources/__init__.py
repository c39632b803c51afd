"""Data files shipped inside the wheel as the package `gptviz.resources` (see pyproject.toml)."""
