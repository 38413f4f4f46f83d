"""The `swift sft` command: SFT/flags.py's config-derived flags plus the run's paths, the model, the
pass-through `sft.extra_args`, the resume and the process environment. Pure: no files are read or written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes import tracking
from recipes.config_map import SKIP
from recipes.families import FamilyError, swift_model_type_flags
from recipes.ms_swift import flag_value, on_gpu, swift_executable, torchrun_env
from recipes.stage import Command
from SFT.config import CHECKPOINTS
from SFT.flags import SWIFT_SFT_FLAGS, SFTConfigError, check_extra_args


@dataclass
class SFTPaths:
    """The paths a `swift sft` run reads and writes (decided by the stage, not by the config)."""

    model: str
    """Local model directory (or hub id)."""
    dataset: str
    """ms-swift JSONL from the sft_data stage."""
    output_dir: str
    """Where ms-swift writes `checkpoint-N/`, `logging.jsonl`, `args.json` (no versioned subdir)."""
    system_file: str
    """The system prompt as a `.txt` file (ms-swift reads `--system` as a file only for `.txt`)."""
    resume_from: str | None = None
    """Checkpoint to resume from (ms-swift's own `--resume_from_checkpoint`)."""
    resume_weights_only: bool = False
    """`resume_from` holds weights only (no optimizer / scheduler state): `--resume_only_model true`."""


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def swift_args(cfg: DictConfig, paths: SFTPaths) -> list[str]:
    """The `swift sft` arguments (without the executable) for a composed recipe."""
    sft, model = cfg.sft, cfg.model
    try:
        model_type = swift_model_type_flags(str(model.path), str(model.template), paths.model)
    except FamilyError as err:
        raise SFTConfigError(str(err)) from None
    args: list[str] = [
        "--model", paths.resume_from or paths.model, "--template", str(model.template), *model_type, "--check_model", "false",
        "--torch_dtype", str(model.torch_dtype), "--dataset", paths.dataset, "--system", paths.system_file,
        "--output_dir", paths.output_dir, "--add_version", "false",
    ]
    for row in SWIFT_SFT_FLAGS:
        value = row.value(cfg) if row.value is not None else SKIP
        if value is not SKIP:
            args += [f"--{row.target}", *flag_value(value)] if row.target else list(value)
    if sft.checkpoint not in CHECKPOINTS:
        raise SFTConfigError(f"sft.checkpoint must be {' or '.join(map(repr, CHECKPOINTS))}, got {sft.checkpoint!r}")
    extra = _plain(sft.extra_args) or {}
    check_extra_args(extra)
    for key, value in extra.items():
        args += [f"--{str(key).lstrip('-')}", *flag_value(value)]
    if paths.resume_from:
        # the weights come through `--model` (from_pretrained maps the checkpoint's key names; transformers 5's
        # Trainer loads a full checkpoint's weights with strict=False under other names, i.e. not at all),
        # the optimizer, scheduler, RNG and data position through the trainer's own resume
        args += ["--resume_from_checkpoint", paths.resume_from]
        if paths.resume_weights_only:  # accepted by sft.resume_weights_only: fresh optimizer and schedule
            args += ["--resume_only_model", "true"]
    return args


def swift_env(cfg: DictConfig) -> dict[str, str]:
    """Environment for `swift sft`: image pixel ceiling and torchrun geometry from the cluster group."""
    cluster = cfg.cluster
    env = {"MAX_PIXELS": str(cfg.data.max_pixels), "USE_HF": "1"}  # any hub lookup goes to HF, not ModelScope
    env.update(torchrun_env(cluster))
    if not on_gpu(cluster):
        env["CUDA_VISIBLE_DEVICES"] = ""
    if "wandb" in tracking.stage_loggers(cfg, "sft") and os.environ.get("WANDB_MODE"):
        env["WANDB_MODE"] = os.environ["WANDB_MODE"]  # offline when no key (recipes/pipeline/preflight.py)
    env.update(tracking.stage_env(cfg, "sft"))  # one project and group for both stages (recipes/tracking.py)
    return env


def build_command(cfg: DictConfig, paths: SFTPaths) -> Command:
    """The exact `swift sft` command and environment for this recipe."""
    return Command([swift_executable(), "sft", *swift_args(cfg, paths)], swift_env(cfg))
