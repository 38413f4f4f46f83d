"""The single map from our `sft` / `model` / `data` / `cluster` config to a `swift sft` command (ms-swift 4.6).

Every flag the stage passes is built here, and nowhere else; SFT/README.md has the parity table against
the reference script (ms-swift 3.x). `build_command` is pure: no files are read or written.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from recipes import tracking
from recipes.families import FamilyError, swift_model_type_flags
from recipes.ms_swift import flag_value, on_gpu, swift_executable, torchrun_env, world_size
from recipes.stage import Command
from SFT.config import CHECKPOINTS


class SFTConfigError(ValueError):
    """The SFT settings cannot make a valid `swift sft` command (said before anything runs)."""


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


MANAGED_BY_RECIPE = {
    "model": "model.path", "template": "model.template", "torch_dtype": "model.torch_dtype",
    "model_type": "model.path's family (recipes/families.py)",
    "dataset": "sft_data stage", "system": "data.system_prompt", "output_dir": "runs/<run>/sft",
    "add_version": "the stage (always false)", "resume_from_checkpoint": "the stage (automatic resume)",
    "resume_only_model": "the stage (sft.resume_weights_only)", "gradient_checkpointing_kwargs":
        "sft.gradient_checkpointing_use_reentrant", "max_pixels": "data.max_pixels", "data_seed": "sft.seed",
}
"""ms-swift flags set from somewhere other than `sft.<same name>`: an extra_args key may not repeat them."""

DIRECT_FIELDS = (
    "tuner_type", "num_train_epochs", "learning_rate", "per_device_train_batch_size", "weight_decay",
    "lr_scheduler_type", "warmup_ratio", "max_grad_norm", "seed", "freeze_llm", "freeze_vit",
    "freeze_aligner", "max_length", "gradient_checkpointing", "save_steps", "save_total_limit",
    "save_only_model", "split_dataset_ratio", "logging_steps", "dataset_num_proc", "dataloader_num_workers",
    "report_to",
)
"""SFTConfig fields passed to `swift sft` under the same name (null values are left to ms-swift)."""

OTHER_FLAGS: dict[str, str] = {
    "data.max_pixels": "`MAX_PIXELS` (env)",
    "cluster.nproc_per_node": "`NPROC_PER_NODE`, `NNODES`, `NODE_RANK`, `MASTER_ADDR`, `MASTER_PORT` (env)",
    "model.template": "`--template`",
    "model.path": "`--model`",
    "model.torch_dtype": "`--torch_dtype`",
    "sft.gradient_accumulation_steps": "`--gradient_accumulation_steps`",
    "sft.global_batch_size": "(none)",
    "sft.gradient_checkpointing_use_reentrant": "`--gradient_checkpointing_kwargs`",
    "sft.deepspeed": "`--deepspeed`",
    "sft.eval_steps": "`--eval_steps` (+ `--eval_strategy steps`)",
}
"""The flag(s) or environment variables of settings not passed under their own name (SFT/README.md's table)."""


@functools.lru_cache(maxsize=1)
def sft_argument_names() -> frozenset[str]:
    """Every flag `swift sft` accepts: the fields of ms-swift's own `SftArguments` dataclass."""
    from swift.arguments import SftArguments

    return frozenset(f.name for f in dataclasses.fields(SftArguments))


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def gradient_accumulation(sft: DictConfig, cluster: DictConfig) -> int:
    """Accumulation steps that keep `sft.global_batch_size` on this cluster (or the explicit value)."""
    micro = int(sft.per_device_train_batch_size) * world_size(cluster)
    if micro < 1:
        raise SFTConfigError(f"per_device_train_batch_size x nproc_per_node x nnodes must be >= 1, got {micro}")
    if sft.get("gradient_accumulation_steps") is not None:
        steps = int(sft.gradient_accumulation_steps)
        if steps * micro != int(sft.global_batch_size):
            raise SFTConfigError(
                f"sft.gradient_accumulation_steps={steps} gives a global batch of {steps * micro} "
                f"({sft.per_device_train_batch_size} per device x {world_size(cluster)} processes x {steps}), "
                f"not sft.global_batch_size={sft.global_batch_size}; set one of them consistently or leave "
                "gradient_accumulation_steps null to derive it"
            )
        return steps
    if int(sft.global_batch_size) % micro:
        raise SFTConfigError(
            f"sft.global_batch_size={sft.global_batch_size} is not divisible by per_device_train_batch_size "
            f"x nproc_per_node x nnodes = {sft.per_device_train_batch_size} x {cluster.nproc_per_node} x "
            f"{cluster.nnodes} = {micro}; change global_batch_size or per_device_train_batch_size"
        )
    return int(sft.global_batch_size) // micro


def check_extra_args(extra: dict[str, Any]) -> None:
    """Refuse extra_args keys that `swift sft` does not know or that the recipe already sets."""
    if not extra:
        return  # importing ms-swift's argument classes takes seconds: only when there is something to check
    known = sft_argument_names()
    for key in extra:
        name = str(key).lstrip("-")
        if name not in known:
            close = sorted(k for k in known if name.split("_")[0] in k)[:8]
            raise SFTConfigError(
                f"sft.extra_args: {name!r} is not a `swift sft` flag of ms-swift 4.6 (not a field of "
                f"swift.arguments.SftArguments){'; similar: ' + ', '.join(close) if close else ''}"
            )
        if name in MANAGED_BY_RECIPE:
            raise SFTConfigError(f"sft.extra_args: {name!r} is set by {MANAGED_BY_RECIPE[name]}; set it there")
        if name in DIRECT_FIELDS or name in ("gradient_accumulation_steps", "deepspeed", "eval_steps"):
            raise SFTConfigError(f"sft.extra_args: {name!r} is a field of the sft config; set sft.{name} instead")


def swift_args(cfg: DictConfig, paths: SFTPaths) -> list[str]:
    """The `swift sft` arguments (without the executable) for a composed recipe."""
    sft, model, cluster = cfg.sft, cfg.model, cfg.cluster
    try:
        model_type = swift_model_type_flags(str(model.path), str(model.template), paths.model)
    except FamilyError as err:
        raise SFTConfigError(str(err)) from None
    args: list[str] = [
        "--model", paths.resume_from or paths.model, "--template", str(model.template), *model_type, "--check_model", "false",
        "--torch_dtype", str(model.torch_dtype), "--dataset", paths.dataset, "--system", paths.system_file,
        "--output_dir", paths.output_dir, "--add_version", "false",
    ]
    for name in DIRECT_FIELDS:
        value = sft.get(name)
        if name == "report_to" and tracking.chosen(cfg) is not None:
            value = tracking.chosen(cfg) or ["none"]  # the recipe's one `logger=[...]`
        if value is not None:
            args += [f"--{name}", *flag_value(value)]
    # ms-swift shuffles the data with data_seed (default 42), which `seed` does not set
    # (swift/arguments/base_args/base_args.py:91): one sft.seed moves both, as grpo.seed does for GRPO.
    args += ["--data_seed", str(sft.seed)]
    args += ["--gradient_accumulation_steps", str(gradient_accumulation(sft, cluster))]
    args += ["--gradient_checkpointing_kwargs",
             json.dumps({"use_reentrant": bool(sft.gradient_checkpointing_use_reentrant)})]
    args += ["--save_strategy", "steps"]
    args += tracking.swift_flags(cfg, "sft")  # run name, tensorboard dir under runs/<run>/
    if float(sft.split_dataset_ratio) > 0:
        args += ["--eval_strategy", "steps", "--eval_steps", str(sft.eval_steps)]
    if sft.deepspeed and on_gpu(cluster):
        args += ["--deepspeed", str(sft.deepspeed)]
    if str(model.torch_dtype) == "float32":
        args += ["--fp16", "false", "--bf16", "false"]  # ms-swift 4.6 turns fp16 on for float32 otherwise
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
