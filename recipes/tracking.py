"""One experiment tracker for both stages: `logger=[...]` at the top of a recipe, mapped to each tool's flags.

ms-swift (SFT, and GRPO on the swift backend) takes `--report_to` plus environment variables that
transformers' callbacks read (WANDB_PROJECT, TENSORBOARD_LOGGING_DIR via `--logging_dir`, MLFLOW_EXPERIMENT_NAME,
`--swanlab_project`); verl takes `trainer.logger`, `trainer.project_name` and `trainer.experiment_name` and
reads the rest from the environment (WANDB_*, TENSORBOARD_DIR, SWANLAB_*, MLFLOW_TRACKING_URI). Both stages of
a run share one project and one group (the run name) and are named `<run>/sft` and `<run>/grpo`, so a sweep's
runs sit side by side in one dashboard. Without credentials everything stays on disk under
`runs/<run>/` (wandb offline, swanlab local, mlflow in a sqlite file beside the runs). `log_config` records
the composed recipe and the stage config hashes in the same tracker, so the dashboard says what ran.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

LOGGERS = ("tensorboard", "wandb", "mlflow", "swanlab")
"""Trackers both ms-swift 4.6 (`--report_to`) and verl 0.9.1 (`trainer.logger`) speak."""
MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "swanlab": "swanlab"}
"""The package each tracker needs in the training environment."""


class TrackerError(ValueError):
    """`logger=[...]` names something the stages cannot report to."""


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def chosen(cfg: DictConfig) -> list[str] | None:
    """The recipe-level `logger` list (validated), or None when the recipe leaves loggers to each stage."""
    value = _plain(OmegaConf.select(cfg, "logger", default=None))
    if value is None:
        return None
    names = [str(v) for v in value]
    bad = [n for n in names if n not in (*LOGGERS, "console", "none")]
    if bad:
        raise TrackerError(f"logger={names}: {bad} not one of {', '.join(LOGGERS)} (or console, none)")
    return [n for n in names if n in LOGGERS]


def stage_loggers(cfg: DictConfig, stage: str) -> list[str]:
    """The trackers stage `sft` or `grpo` reports to: `logger` when set, else the stage's own setting
    (`sft.report_to`, `grpo.loggers`), without console/none."""
    top = chosen(cfg)
    if top is not None:
        return top
    own = _plain(OmegaConf.select(cfg, "sft.report_to" if stage == "sft" else "grpo.loggers", default=None)) or []
    return [str(n) for n in own if str(n) in LOGGERS]


def project(cfg: DictConfig) -> str:
    """The tracker project: `tracker.project`, else `grpo.project_name`."""
    return str(OmegaConf.select(cfg, "tracker.project", default=None)
               or OmegaConf.select(cfg, "grpo.project_name", default=None) or "rl-cold-start")


def group(cfg: DictConfig) -> str:
    """The run's group (both stages in it): `tracker.group`, else the run name."""
    return str(OmegaConf.select(cfg, "tracker.group", default=None) or cfg.run_name)


def run_dir(cfg: DictConfig) -> Path:
    return (Path(str(cfg.runs_dir)).expanduser() / str(cfg.run_name)).resolve()


def experiment(cfg: DictConfig, stage: str) -> str:
    """The name of one stage's run in the tracker."""
    return f"{cfg.run_name}/{stage}"


def tensorboard_dir(cfg: DictConfig, stage: str) -> Path:
    return run_dir(cfg) / "tensorboard" / stage


def stage_env(cfg: DictConfig, stage: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for stage `sft` or `grpo` (either backend) so that each tracker files it under one
    project and group, under `runs/<run>/`, offline when no credential is set."""
    environ = os.environ if environ is None else environ
    names = stage_loggers(cfg, stage)
    out: dict[str, str] = {}
    where = run_dir(cfg)
    if "wandb" in names:
        out.update(WANDB_PROJECT=project(cfg), WANDB_RUN_GROUP=group(cfg), WANDB_DIR=str(where),
                   WANDB_NAME=experiment(cfg, stage), WANDB_JOB_TYPE=stage)
        if environ.get("WANDB_MODE") or not environ.get("WANDB_API_KEY"):
            out["WANDB_MODE"] = environ.get("WANDB_MODE") or "offline"
    if "tensorboard" in names:
        out["TENSORBOARD_DIR"] = str(tensorboard_dir(cfg, stage))  # verl's _TensorboardAdapter
    if "mlflow" in names:
        out["MLFLOW_EXPERIMENT_NAME"] = project(cfg)
        out["MLFLOW_TAGS"] = json.dumps({"group": group(cfg), "stage": stage})
        if not environ.get("MLFLOW_TRACKING_URI"):
            out["MLFLOW_TRACKING_URI"] = f"sqlite:///{where.parent / 'mlflow.db'}"
    if "swanlab" in names:
        out["SWANLAB_LOG_DIR"] = str(where / "swanlog")
        if not environ.get("SWANLAB_API_KEY") and not environ.get("SWANLAB_MODE"):
            out["SWANLAB_MODE"] = "local"
    return out


def swift_flags(cfg: DictConfig, stage: str) -> list[str]:
    """ms-swift flags beside `--report_to`: the run's name and, per tracker, where it writes."""
    names = stage_loggers(cfg, stage)
    if not names:
        return []
    out = ["--run_name", experiment(cfg, stage)]
    if "tensorboard" in names:
        out += ["--logging_dir", str(tensorboard_dir(cfg, stage))]
    if "swanlab" in names:
        out += ["--swanlab_project", project(cfg), "--swanlab_exp_name", experiment(cfg, stage)]
        if not os.environ.get("SWANLAB_API_KEY"):
            out += ["--swanlab_mode", "local"]
    return out


def where_to_look(cfg: DictConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per tracker of the run: what to open to see both stages."""
    environ = os.environ if environ is None else environ
    names = sorted({*stage_loggers(cfg, "sft"), *stage_loggers(cfg, "grpo")})
    where = run_dir(cfg)
    out = []
    for name in names:
        if name == "tensorboard":
            out.append(f"tensorboard: tensorboard --logdir {where / 'tensorboard'}  (a sweep: --logdir "
                       f"{where.parent})")
        elif name == "wandb":
            mode = environ.get("WANDB_MODE") or ("online" if environ.get("WANDB_API_KEY") else "offline")
            hint = (f"wandb sync {where / 'wandb'}/offline-run-*" if mode == "offline"
                    else "https://wandb.ai (your entity)")
            out.append(f"wandb ({mode}): project {project(cfg)!r}, group {group(cfg)!r}; {hint}")
        elif name == "mlflow":
            uri = environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{where.parent / 'mlflow.db'}"
            out.append(f"mlflow: mlflow ui --backend-store-uri {uri}  (experiment {project(cfg)!r})")
        elif name == "swanlab":
            out.append(f"swanlab: swanlab watch {where / 'swanlog'}  (project {project(cfg)!r})")
    return out


def log_config(cfg: DictConfig, hashes: dict[str, str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Record the composed recipe and the stage config hashes in the run's trackers (tensorboard text,
    a wandb `config` run in the run's group); return what was written. A tracker never fails the run."""
    environ = os.environ if environ is None else environ
    names = sorted({*stage_loggers(cfg, "sft"), *stage_loggers(cfg, "grpo")})
    composed = OmegaConf.to_container(cfg, resolve=True)
    payload = {"recipe": composed, "config_hashes": hashes}
    written: list[str] = []
    if "tensorboard" in names:
        try:
            from torch.utils.tensorboard import SummaryWriter

            path = tensorboard_dir(cfg, "config")
            with SummaryWriter(str(path)) as writer:
                writer.add_text("recipe", "```yaml\n" + OmegaConf.to_yaml(cfg, resolve=True) + "\n```")
                writer.add_text("config_hashes", "\n".join(f"- {k}: `{v}`" for k, v in hashes.items()))
            written.append(f"tensorboard text 'recipe' and 'config_hashes' in {path}")
        except (ImportError, OSError) as err:
            log.warning("composed config not written to tensorboard: %s", err)
    if "wandb" in names:
        try:
            written.append(_wandb_config(cfg, payload, environ))
        except Exception as err:
            log.warning("composed config not logged to wandb: %s", err)
    return written


def _wandb_config(cfg: DictConfig, payload: dict[str, Any], environ: Mapping[str, str]) -> str:
    import wandb

    mode = environ.get("WANDB_MODE") or ("online" if environ.get("WANDB_API_KEY") else "offline")
    run = wandb.init(project=project(cfg), group=group(cfg), name=experiment(cfg, "config"), job_type="config",
                     dir=str(run_dir(cfg)), mode=mode, config=payload, reinit="create_new")
    where = run.dir if mode == "offline" else run.url
    run.finish()
    return f"wandb run {experiment(cfg, 'config')!r} (group {group(cfg)!r}, {mode}) with the recipe: {where}"
