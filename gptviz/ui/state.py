"""What the panels' views depend on besides the prompt, read from the window's widgets in one place."""
from __future__ import annotations

from dataclasses import dataclass

from ..views.base import Prompt


@dataclass(frozen=True)
class ViewState:
    prompt: Prompt
    layer: int
    head: int
    temperature: float
    top_k: int
    compare_text: str
    info: object                        # worker.ModelInfo

    @property
    def special_ids(self) -> set[int]:
        eot = getattr(self.info, "eot_id", None)
        return set() if eot is None else {eot}

    @property
    def shared_ids(self):
        return (self.info.geometry if self.info is not None else {}).get("shared_ids", ())


def prompt_comment(result) -> str:
    """One CSV comment line naming the prompt the numbers belong to (JSON-quoted: newlines stay on it)."""
    import json
    return "# prompt: " + json.dumps(result.prompt.text, ensure_ascii=False)
