"""ms-swift 4.6 launch glue shared by `swift sft` (SFT/flags.py) and `swift rlhf` (GRPO/swift_flags.py).

The executable, config values as argv items, the launcher geometry (world size, device, the torchrun
environment) and the `checkpoint-N` directories ms-swift writes. Imports nothing from SFT, GRPO or evaluation.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


# -- the command line -----------------------------------------------------------------------------------
def swift_executable() -> str:
    """The `swift` entry point of this Python environment (falls back to PATH)."""
    local = Path(sys.executable).parent / "swift"
    return str(local) if local.exists() else (shutil.which("swift") or "swift")


def flag_value(value: Any) -> list[str]:
    """argv items for one flag: booleans as true/false, lists as several items, dicts as JSON, whole floats
    >= 1 as integers (ms-swift parses `--save_steps 76`, not `76.0`)."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return [str(int(value))]
    return [str(value)]


# -- launcher geometry ----------------------------------------------------------------------------------
def argument_errors(arguments: type, argv: list[str]) -> dict[str, str]:
    """ms-swift's own argument parser (`HfArgumentParser` over its arguments dataclass, as `swift sft` / `swift
    rlhf` parse their command line) run over `argv`, flags and values only: no model, file or GPU is touched.
    Returns flag name -> why it is refused (an unknown flag, a value of the wrong type or outside a choice)."""
    import argparse
    import contextlib
    import io

    from transformers import HfArgumentParser

    parser = HfArgumentParser(arguments)
    parser.exit_on_error = False
    args, errors = list(argv), {}
    for _ in range(len(argv) + 1):
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                _, unknown = parser.parse_known_args(args)
        except argparse.ArgumentError as err:
            flag = (err.argument_name or "").split("/")[0]
            errors[flag.lstrip("-")] = err.message
            if flag not in args:
                break
            i = args.index(flag)
            j = i + 1
            while j < len(args) and not args[j].startswith("--"):
                j += 1
            del args[i:j]
            continue
        except SystemExit:
            errors["(arguments)"] = "ms-swift's parser refused the command line"
            break
        errors.update({u.lstrip("-"): "not a flag of this ms-swift" for u in unknown if u.startswith("--")})
        break
    return errors


def world_size(cluster: DictConfig) -> int:
    """Training processes across all nodes."""
    return int(cluster.nproc_per_node) * int(cluster.nnodes)


def on_gpu(cluster: DictConfig) -> bool:
    """Whether the cluster group trains on accelerators (`cluster.device` other than cpu)."""
    return str(cluster.device) != "cpu"


def uses_torchrun(cluster: DictConfig) -> bool:
    """Whether ms-swift should start its workers with torchrun: on any GPU run, or with several processes.

    ms-swift's CLI runs torchrun only when NPROC_PER_NODE or NNODES is set (swift/cli/main.py:30-35
    `use_torchrun`, :95); without it there are no RANK/LOCAL_RANK and accelerate never starts DeepSpeed
    (accelerate/state.py:202-217), so one GPU with `--deepspeed` needs torchrun too (ms-swift fills that gap
    only for GRPO with vLLM: swift/arguments/rlhf_args.py:345-346, `set_default_ddp_config`).
    """
    return on_gpu(cluster) or world_size(cluster) > 1


def torchrun_env(cluster: DictConfig) -> dict[str, str]:
    """NPROC_PER_NODE / NNODES / NODE_RANK / MASTER_ADDR / MASTER_PORT when `uses_torchrun`, else nothing."""
    if not uses_torchrun(cluster):
        return {}
    return {"NPROC_PER_NODE": str(cluster.nproc_per_node), "NNODES": str(cluster.nnodes),
            "NODE_RANK": str(cluster.node_rank), "MASTER_ADDR": str(cluster.master_addr),
            "MASTER_PORT": str(cluster.master_port)}


# -- checkpoint-N directories (sft and GRPO alike) ------------------------------------------------------
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
    """The newest complete checkpoint (to resume from / hand on), or None."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


def has_training_state(ckpt: str | Path) -> bool:
    """The checkpoint holds the optimizer and scheduler state (not `save_only_model`): a resume is exact."""
    return (Path(ckpt) / "scheduler.pt").is_file()


def trainer_state(ckpt: Path) -> dict:
    """The checkpoint's `trainer_state.json`."""
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
    """The optimizer step the checkpoint was saved at."""
    return int(trainer_state(ckpt).get("global_step", 0))
