"""The verl 0.9.1 `main_ppo` overrides: GRPO/verl_overrides.py's map plus the run's paths, the fixed keys and
the pass-through `grpo.extra_overrides`. Pure: no files are read or written."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig

from GRPO.verl_overrides import ACTOR, VERL_OVERRIDES, GRPOConfigError
from recipes import tracking

_SAFE = re.compile(r"^[\w./:@+-]+$")


def hydra_value(value: Any) -> str:
    """`value` in Hydra's override grammar (quoted where needed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value)
    if _SAFE.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def verl_overrides(
    cfg: DictConfig,
    *,
    model_path: str,
    train_files: str,
    val_files: str,
    checkpoint_dir: str,
) -> list[str]:
    """The `main_ppo` overrides for `cfg` (composed recipe) with the run's model, data and output paths."""
    fixed: dict[str, Any] = {
        # verl's v0 PPO trainer: the one these overrides are checked against. verl 0.9.1's default, the V1
        # trainer, crashed a real VLM run after 81 steps (verl issue #7899, open fix PR #7901): kept off.
        "trainer.use_v1": False,
        "algorithm.use_kl_in_reward": False,
        "data.train_files": train_files,
        "data.val_files": val_files,
        "data.prompt_key": "prompt",
        "data.truncation": "error",
        "data.filter_overlong_prompts": False,  # the converter rejects long rows before training
        "actor_rollout_ref.model.path": model_path,
        f"{ACTOR}.entropy_coeff": 0,
        f"{ACTOR}.use_dynamic_bsz": False,
        "reward.num_workers": cfg.grpo.reward_num_workers,
        "trainer.project_name": tracking.project(cfg),
        "trainer.experiment_name": tracking.experiment(cfg, "grpo") if tracking.chosen(cfg) else cfg.run_name,
        "trainer.default_local_dir": checkpoint_dir,
        "trainer.device": cfg.cluster.device,
        "trainer.resume_mode": "auto",
    }
    if cfg.grpo.max_steps is not None:
        fixed["trainer.total_training_steps"] = cfg.grpo.max_steps
    mapped = {row.target: row.value(cfg) for row in VERL_OVERRIDES if row.target != "actor_rollout_ref.model.path"}
    merged = {**mapped, **fixed}
    out = [f"{k}={hydra_value(v)}" for k, v in merged.items()]
    extra = dict(cfg.grpo.extra_overrides or {})
    v1 = {k: v for k, v in extra.items() if k.lstrip("+~") == "trainer.use_v1" and str(v).lower() != "false"}
    if v1:
        raise GRPOConfigError(
            f"grpo.extra_overrides sets trainer.use_v1={next(iter(v1.values()))}: verl 0.9.x's V1 trainer crashed a "
            f"real VLM run after 81 steps (https://github.com/verl-project/verl/issues/7899, fix proposed in PR "
            f"#7901, unmerged); the v0 trainer (trainer.use_v1=false) is the one this project runs")
    for key, value in extra.items():
        plain = key.lstrip("+~")
        out = [o for o in out if o.split("=", 1)[0].lstrip("+") != plain]
        out.append(f"{key}={value}")
    return out
