"""The `swift rlhf --rlhf_type grpo` command: GRPO/swift_flags.py's config-derived flags plus the run's paths,
the fixed flags, the reward plugin and the process environment. Pure: no files are read or written."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from GRPO.swift_flags import SwiftConfigError, dtype_flags, flag_values, micro_batch, on_cpu
from recipes import tracking
from recipes.families import FamilyError, swift_model_type_flags
from recipes.ms_swift import flag_value, swift_executable, torchrun_env
from recipes.stage import Command


@dataclass(frozen=True)
class SwiftPaths:
    """What one `swift rlhf` run reads and writes (decided by the stage, not by the config)."""

    model: str
    """Actor (and reference) model directory: the SFT checkpoint, or model.path."""
    train_file: str
    """verl-schema parquet from the rl_data stage (ms-swift reads it directly)."""
    output_dir: str
    """`checkpoint-N/`, `logging.jsonl`, `args.json` (no versioned subdir)."""
    val_file: str | None = None
    """verl-schema validation parquet (used when grpo.val_freq > 0)."""
    resume_from: str | None = None
    """ms-swift checkpoint to resume from (model, optimizer, scheduler, RNG, data position)."""


FIXED: dict[str, Any] = {
    "rlhf_type": "grpo",
    "tuner_type": "full",
    "check_model": False,
    "columns": {"prompt": "messages"},
    "split_dataset_ratio": 0.0,
    "truncation_strategy": "delete",
    "num_iterations": 1,
    "logging_steps": 1,
    "save_only_model": False,
    "add_version": False,
    "load_from_cache_file": False,
}
"""Flags that do not depend on the config: verl's parquet columns, full training, resumable checkpoints."""

MANAGED = {"model", "model_type", "template", "dataset", "val_dataset", "output_dir", "external_plugins",
           "resume_from_checkpoint", "ref_model", "torch_dtype", "bf16", "fp16", "dataset_num_proc", "dataloader_num_workers"}
"""Flags the stage sets from paths, model and data config (an extra_overrides key may not repeat them)."""


def plugin_file() -> Path:
    """reward_fns/swift_orm.py as installed (found through the import system, not a path in the repo)."""
    spec = importlib.util.find_spec("reward_fns.swift_orm")
    if spec is None or spec.origin is None:
        raise SwiftConfigError("reward_fns.swift_orm is not importable: is the project installed?")
    return Path(spec.origin)


def project_root() -> Path:
    """The directory holding the `reward_fns` package (put on the child's PYTHONPATH)."""
    return plugin_file().parent.parent


@functools.lru_cache(maxsize=1)
def rlhf_argument_names() -> frozenset[str]:
    """Every flag `swift rlhf` accepts: the fields of ms-swift's own `RLHFArguments` dataclass."""
    from swift.arguments import RLHFArguments

    return frozenset(f.name for f in dataclasses.fields(RLHFArguments))


def environment(cfg: DictConfig) -> dict[str, str]:
    """Environment of the `swift rlhf` process: pixel limits, launcher geometry, wandb project, import path."""
    env = {"MAX_PIXELS": str(cfg.data.max_pixels), "MIN_PIXELS": str(cfg.data.min_pixels),
           "PYTHONPATH": str(project_root()), **torchrun_env(cfg.cluster)}
    if "wandb" in cfg.grpo.loggers:
        env["WANDB_PROJECT"] = str(cfg.grpo.project_name)
    env.update(tracking.stage_env(cfg, "grpo"))  # one project and group for both stages (recipes/tracking.py)
    if cfg.hub.offline:
        env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return env


def swift_command(cfg: DictConfig, paths: SwiftPaths) -> Command:
    """The `swift rlhf --rlhf_type grpo` command for the composed recipe `cfg` and the run's paths."""
    try:
        model_type = swift_model_type_flags(str(cfg.model.path), str(cfg.model.template))
    except FamilyError as err:
        raise SwiftConfigError(str(err)) from None
    flags: dict[str, Any] = dict(FIXED)
    flags.update({"model": paths.model, "template": cfg.model.template, "dataset": paths.train_file,
                  "output_dir": paths.output_dir, "external_plugins": str(plugin_file())})
    if model_type:
        flags["model_type"] = model_type[1]
    flags.update(dtype_flags(cfg))
    flags.update(flag_values(cfg))
    flags["dataset_num_proc"] = int(cfg.data.num_workers)
    flags["dataloader_num_workers"] = 0 if on_cpu(cfg) else int(cfg.data.num_workers)
    if int(cfg.grpo.val_freq) > 0:
        if not paths.val_file:
            raise SwiftConfigError("grpo.val_freq > 0 needs a validation parquet (rl_data's `val` output); "
                                   "set grpo.val_freq=-1 to train without validation")
        flags["val_dataset"] = paths.val_file
        flags["per_device_eval_batch_size"] = micro_batch(cfg)
    if paths.resume_from:
        # weights through `--model` (from_pretrained maps the checkpoint's key names: transformers 5's Trainer
        # loads a full checkpoint's weights with strict=False under other names, i.e. not at all); the optimizer,
        # scheduler, RNG and data position through the trainer's resume; the KL reference stays the start model
        flags["resume_from_checkpoint"] = paths.resume_from
        flags["model"] = paths.resume_from
        flags["ref_model"] = paths.model
    for key, value in (cfg.grpo.extra_overrides or {}).items():
        name = str(key).lstrip("-")
        if name in MANAGED or name in FIXED:
            raise SwiftConfigError(f"grpo.extra_overrides.{name}: this flag is set by the swift backend itself")
        flags[name] = value
    unknown = sorted(k for k in flags if k not in rlhf_argument_names())
    if unknown:
        raise SwiftConfigError(f"not `swift rlhf` flags in ms-swift 4.6: {unknown}")
    argv = [swift_executable(), "rlhf"]
    for name, value in flags.items():
        argv += [f"--{name}", *flag_value(value)]
    argv += tracking.swift_flags(cfg, "grpo")  # run name, tensorboard dir under runs/<run>/
    return Command(argv=argv, env=environment(cfg))
