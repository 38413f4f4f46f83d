"""Find, check and memory-map the rank files of a verl FSDP checkpoint (``global_step_N/actor``)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointLayoutError, ShardReadError

logger = logging.getLogger(__name__)

RANK_FILE_RE = re.compile(r"^model_world_size_(\d+)_rank_(\d+)\.pt$")
TRACKER_FILE = "latest_checkpointed_iteration.txt"
STEP_DIR_RE = re.compile(r"^global_step_(\d+)$")


@dataclass(frozen=True)
class CheckpointLayout:
    """Where the pieces of one actor checkpoint are."""

    local_dir: Path
    world_size: int
    rank_files: tuple[Path, ...]
    hf_dir: Path
    fsdp_version: int | None
    """From fsdp_config.json; None when that file is missing (older checkpoints, verl#2252)."""


def discover(local_dir: str | Path) -> CheckpointLayout:
    """Check the rank files and fsdp_config.json of ``local_dir``; raise CheckpointLayoutError on any gap."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise CheckpointLayoutError(f"{local_dir}: checkpoint directory does not exist")
    hf_dir = local_dir / "huggingface"
    if not (hf_dir / "config.json").is_file():
        raise CheckpointLayoutError(
            f"{hf_dir / 'config.json'}: missing; verl saves the model config under <actor>/huggingface/"
        )
    found: dict[int, dict[int, Path]] = {}
    for path in local_dir.iterdir():
        m = RANK_FILE_RE.match(path.name)
        if m:
            found.setdefault(int(m.group(1)), {})[int(m.group(2))] = path
    if not found:
        raise CheckpointLayoutError(f"{local_dir}: no model_world_size_W_rank_R.pt files")
    if len(found) > 1:
        raise CheckpointLayoutError(
            f"{local_dir}: rank files of several world sizes {sorted(found)}; remove the stale ones"
        )
    (names_world,) = found
    cfg_path = local_dir / "fsdp_config.json"
    fsdp_version = None
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text())
            world_size, fsdp_version = int(cfg["world_size"]), cfg.get("FSDP_version")
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointLayoutError(f"{cfg_path}: unreadable or without world_size ({exc})") from exc
        if world_size != names_world:
            raise CheckpointLayoutError(
                f"{cfg_path}: world_size {world_size} but the rank files say world size {names_world}"
            )
    else:
        world_size = names_world
        logger.warning("%s missing (older checkpoint); world size %d inferred from file names", cfg_path, world_size)
    ranks = found[names_world]
    missing = [r for r in range(world_size) if r not in ranks]
    extra = sorted(r for r in ranks if r >= world_size)
    if missing or extra:
        want = [f"model_world_size_{world_size}_rank_{r}.pt" for r in missing]
        raise CheckpointLayoutError(f"{local_dir}: missing rank files {want}; unexpected ranks {extra}")
    return CheckpointLayout(
        local_dir=local_dir,
        world_size=world_size,
        rank_files=tuple(ranks[r] for r in range(world_size)),
        hf_dir=hf_dir,
        fsdp_version=fsdp_version,
    )


def open_rank_file(path: Path) -> dict[str, Any]:
    """Memory-map one rank file: only the pickle is read; tensor data stay on disk until touched."""
    mesh_log = logging.getLogger("torch.distributed.device_mesh")
    level = mesh_log.level
    mesh_log.setLevel(logging.ERROR)  # unpickling a DeviceMesh without process groups warns once per file
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise ShardReadError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: {exc})") from exc
    finally:
        mesh_log.setLevel(level)
    if not isinstance(state, dict) or not state:
        raise ShardReadError(f"{path}: expected a non-empty state dict, got {type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ShardReadError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
    return state


def open_all(layout: CheckpointLayout) -> list[dict[str, Any]]:
    """Open every rank file (metadata only) and check that all ranks hold the same parameter names."""
    states = [open_rank_file(p) for p in layout.rank_files]
    names0 = set(states[0])
    for path, state in zip(layout.rank_files[1:], states[1:], strict=True):
        names = set(state)
        if names != names0:
            missing, extra = sorted(names0 - names)[:5], sorted(names - names0)[:5]
            raise ShardReadError(
                f"{path}: parameter names differ from rank 0 ({layout.rank_files[0].name}): "
                f"missing {missing}, extra {extra}"
            )
    return states


def find_latest_actor_dir(grpo_output_dir: str | Path, step: int | None = None) -> Path:
    """Return ``global_step_N/actor`` under a verl ``default_local_dir``.

    ``step`` picks N; otherwise verl's ``latest_checkpointed_iteration.txt`` does (written only after a
    complete save), falling back to the highest ``global_step_N`` that holds rank files.
    """
    root = Path(grpo_output_dir)
    if step is None:
        tracker = root / TRACKER_FILE
        if tracker.is_file():
            text = tracker.read_text().strip()
            if not text.isdigit():
                raise CheckpointLayoutError(f"{tracker}: expected a step number, got {text!r}")
            step = int(text)
    if step is not None:
        actor = root / f"global_step_{step}" / "actor"
        if not actor.is_dir():
            raise CheckpointLayoutError(f"{actor}: checkpoint of step {step} does not exist")
        return actor
    steps = sorted(
        (int(m.group(1)), p / "actor")
        for p in (root.iterdir() if root.is_dir() else [])
        if (m := STEP_DIR_RE.match(p.name)) and any((p / "actor").glob("model_world_size_*_rank_*.pt"))
    )
    if not steps:
        raise CheckpointLayoutError(f"{root}: no global_step_N/actor checkpoint with model rank files")
    return steps[-1][1]
