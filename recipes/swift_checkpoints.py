"""ms-swift's `checkpoint-N` directories (sft and GRPO alike): the last complete one (to resume / hand on)
and the best by eval loss."""

from __future__ import annotations

import json
import re
from pathlib import Path

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def is_complete(ckpt: Path) -> bool:
    """A checkpoint the trainer finished writing: weights config and trainer_state.json (written last)."""
    return (ckpt / "trainer_state.json").is_file() and (ckpt / "config.json").is_file()


def checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete `checkpoint-N` directories under `output_dir`, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _CKPT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found) if is_complete(p)]


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


def trainer_state(ckpt: Path) -> dict:
    return json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))


def best_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint with the best eval loss as the trainer recorded it, or None without evaluation."""
    last = last_checkpoint(output_dir)
    if last is None:
        return None
    best = trainer_state(last).get("best_model_checkpoint")
    if not best:
        return None
    path = Path(output_dir) / Path(best).name  # recorded absolute; the run dir may have moved since
    return path if is_complete(path) else None


def global_step(ckpt: Path) -> int:
    return int(trainer_state(ckpt).get("global_step", 0))
