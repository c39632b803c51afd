"""The README's ten-minute induction walkthrough stays a command `gptviz train` accepts, with the settings
the measured run used (the run itself takes 9 minutes: the figures are in the README, not re-run here)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from gptviz.training.config import TrainConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Watch an induction head form in ten minutes on a laptop"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = block.replace("\\\n", "").splitlines()
    return [shlex.split(ln, comments=True) for ln in lines if ln.strip()]


def test_walkthrough_train_command_parses_with_the_measured_settings():
    train, timeline, app = walkthrough_commands()
    assert train[:2] == ["gptviz", "train"]
    cfg = TrainConfig.from_argv(train[2:])
    # the recipe's two choices the README explains: no period-2..7 spans (they grow a shifted copying
    # circuit instead of an induction head) and the fading previous-token probe
    assert cfg.short_period_fraction == 0 and cfg.aux == (1.0, 1000)
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.batch_size, cfg.steps) == (2, 4, 64, 64, 32, 2000)
    assert cfg.steps * cfg.batch_size * cfg.block_size == 4_096_000          # the tokens the README reports
    assert cfg.snapshot_every == 100 and cfg.steps // cfg.snapshot_every + 1 == 21
    # the timeline and the app open the folder the training writes, on the same prompt
    assert timeline[:3] == ["gptviz", "timeline", cfg.snapshot_folder]
    assert app[:2] == ["gptviz", cfg.snapshot_folder]
    assert timeline[timeline.index("--prompt") + 1] == app[app.index("--prompt") + 1]
