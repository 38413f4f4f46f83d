"""The one map from our config to verl 0.9.1 `main_ppo` Hydra overrides.

`PARITY` holds every GRPO hyperparameter: the reference EasyR1 key, verl's key, and where our value
comes from. `verl_overrides` turns it (plus the run's paths and cluster shape) into `key=value` strings;
GRPO/README.md's parity table is checked against it by tests/test_grpo_overrides.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

REWARD_FILE = Path(__file__).resolve().parent.parent / "reward_fns" / "verl.py"
"""`reward.custom_reward_function.path`: the verl face of reward_fns (it makes the package importable)."""
REWARD_FN = "compute_score"

A = "actor_rollout_ref.actor"
R = "actor_rollout_ref.rollout"


@dataclass(frozen=True)
class Row:
    """One hyperparameter: reference EasyR1 key and value, verl key, and our value's source."""

    reference_key: str
    reference_value: str
    verl_key: str
    value: Callable[[DictConfig], Any]


def _g(key: str) -> Callable[[DictConfig], Any]:
    return lambda cfg: cfg.grpo[key]


def _d(key: str) -> Callable[[DictConfig], Any]:
    return lambda cfg: cfg.data[key]


def _const(v: Any) -> Callable[[DictConfig], Any]:
    return lambda cfg: v


_OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam"}

PARITY: tuple[Row, ...] = (
    Row("data.max_prompt_length", "2048", "data.max_prompt_length", _d("max_prompt_length")),
    Row("data.max_response_length", "2048", "data.max_response_length", _g("max_response_length")),
    Row("data.rollout_batch_size", "512", "data.train_batch_size", _g("rollout_batch_size")),
    Row("data.seed", "1", "data.seed", _g("seed")),
    Row("data.image_key", "images", "data.image_key", _const("images")),
    Row("algorithm.adv_estimator", "grpo", "algorithm.adv_estimator", _g("adv_estimator")),
    Row("algorithm.use_kl_loss", "true", f"{A}.use_kl_loss", _g("use_kl_loss")),
    Row("algorithm.kl_penalty", "low_var_kl", f"{A}.kl_loss_type", _g("kl_loss_type")),
    Row("algorithm.kl_coef", "1.0e-2", f"{A}.kl_loss_coef", _g("kl_coef")),
    Row("worker.actor.global_batch_size", "128", f"{A}.ppo_mini_batch_size", _g("global_batch_size")),
    Row("worker.actor.micro_batch_size_per_device_for_update", "4", f"{A}.ppo_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_update")),
    Row("worker.actor.micro_batch_size_per_device_for_experience", "8",
        f"{R}.log_prob_micro_batch_size_per_gpu", _g("micro_batch_size_per_device_for_experience")),
    Row("worker.actor.micro_batch_size_per_device_for_experience", "8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", _g("micro_batch_size_per_device_for_experience")),
    Row("worker.actor.max_grad_norm", "1.0", f"{A}.optim.clip_grad", _g("max_grad_norm")),
    Row("worker.actor.padding_free", "true", "actor_rollout_ref.model.use_remove_padding", _g("padding_free")),
    Row("worker.actor.model.enable_gradient_checkpointing", "true",
        "actor_rollout_ref.model.enable_gradient_checkpointing", _g("gradient_checkpointing")),
    Row("worker.actor.model.freeze_vision_tower", "false", f"{A}.freeze_vision_tower", _g("freeze_vision_tower")),
    Row("worker.actor.model.model_path", "<SFT checkpoint>", "actor_rollout_ref.model.path",
        lambda cfg: "<actor model>"),
    Row("worker.actor.optim.strategy", "adamw", f"{A}.optim.optimizer",
        lambda cfg: _OPTIMIZERS.get(cfg.grpo.optimizer.lower(), cfg.grpo.optimizer)),
    Row("worker.actor.optim.lr", "1.0e-6", f"{A}.optim.lr", _g("learning_rate")),
    Row("worker.actor.optim.weight_decay", "1.0e-2", f"{A}.optim.weight_decay", _g("weight_decay")),
    Row("worker.actor.optim.lr_warmup_ratio", "0.0", f"{A}.optim.lr_warmup_steps_ratio", _g("warmup_ratio")),
    Row("worker.actor.offload.offload_params", "true", f"{A}.fsdp_config.param_offload", _g("param_offload")),
    Row("worker.actor.offload.offload_optimizer", "true", f"{A}.fsdp_config.optimizer_offload",
        _g("optimizer_offload")),
    Row("worker.ref.offload.offload_params", "true", "actor_rollout_ref.ref.fsdp_config.param_offload",
        _g("ref_param_offload")),
    Row("worker.rollout.name", "vllm", f"{R}.name", _g("rollout_engine")),
    Row("worker.rollout.n", "10", f"{R}.n", _g("rollout_n")),
    Row("worker.rollout.temperature", "0.7", f"{R}.temperature", _g("temperature")),
    Row("worker.rollout.top_p", "0.99", f"{R}.top_p", _g("top_p")),
    Row("worker.rollout.gpu_memory_utilization", "0.6", f"{R}.gpu_memory_utilization", _g("gpu_memory_utilization")),
    Row("worker.rollout.tensor_parallel_size", "2", f"{R}.tensor_model_parallel_size", _g("tensor_parallel_size")),
    Row("worker.rollout.val_override_config.temperature", "0.5", f"{R}.val_kwargs.temperature",
        _g("val_temperature")),
    Row("worker.rollout.val_override_config.n", "1", f"{R}.val_kwargs.n", _g("val_n")),
    Row("(val sampling: temperature > 0)", "sampled", f"{R}.val_kwargs.do_sample",
        lambda cfg: cfg.grpo.val_temperature > 0),
    Row("(val top_p inherits rollout top_p)", "0.99", f"{R}.val_kwargs.top_p", _g("top_p")),
    Row("worker.reward.score_function", "math.py:compute_score", "reward.custom_reward_function.path",
        lambda cfg: str(REWARD_FILE)),
    Row("worker.reward.score_function", "math.py:compute_score", "reward.custom_reward_function.name",
        _const(REWARD_FN)),
    Row("(math.py format weight)", "0 (accuracy only)",
        "+reward.custom_reward_function.reward_kwargs.format_weight", _g("format_weight")),
    Row("trainer.total_episodes", "2", "trainer.total_epochs", _g("total_epochs")),
    Row("trainer.save_freq", "5", "trainer.save_freq", _g("save_freq")),
    Row("trainer.save_limit", "7", "trainer.max_actor_ckpt_to_keep", _g("save_limit")),
    Row("trainer.val_freq", "5", "trainer.test_freq", _g("val_freq")),
    Row("trainer.val_before_train", "true", "trainer.val_before_train", _g("val_before_train")),
    Row("trainer.logger", "[console, wandb]", "trainer.logger", _g("loggers")),
    Row("trainer.n_gpus_per_node", "8", "trainer.n_gpus_per_node", lambda cfg: cfg.cluster.nproc_per_node),
    Row("trainer.nnodes", "1", "trainer.nnodes", lambda cfg: cfg.cluster.nnodes),
)
"""Every reference GRPO value with a verl counterpart, in the order the overrides are written."""

NO_COUNTERPART: dict[str, str] = {
    "data.prompt_key problem / data.answer_key answer": "GRPO/convert.py writes verl's schema: `prompt` "
    "(chat messages with the system prompt) and `reward_model.ground_truth`; verl reads `data.prompt_key=prompt`.",
    "data.max_pixels 1204224 / data.min_pixels 262144": "verl has no data-level pixel limits: the converter "
    "writes `max_pixels` / `min_pixels` into every image dict of the parquet (qwen_vl_utils honours them).",
    "data.val_batch_size 500": "deprecated in verl 0.9.1 (the validation set goes to the engine as one batch).",
    "data.format_prompt (none)": "nothing appended; the paper's system prompt comes from `data.system_prompt`.",
    "worker.actor.fsdp.enable_full_shard true": "verl's FSDP shards fully by default (`fsdp_size=-1`).",
    "worker.actor.fsdp.enable_rank0_init true": "verl's FSDP workers load the weights "
    "once and start the other ranks empty (meta device) by themselves; no key.",
    "worker.reward.n 10 (one score per sampled response)": "verl's reward manager scores every one of the "
    "rollout.n responses; `reward.num_workers` sets its parallelism (`grpo.reward_num_workers`).",
    "trainer.max_steps (unset)": "`grpo.max_steps` -> `trainer.total_training_steps` (smoke runs only).",
    "trainer.save_checkpoint_path": "`trainer.default_local_dir` = runs/<run>/grpo/checkpoints.",
}
"""Reference keys without a one-to-one verl key, and what we do instead."""

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
        "trainer.use_v1": False,  # the v1 trainer imports transfer_queue, which verl does not install
        "algorithm.use_kl_in_reward": False,
        "data.train_files": train_files,
        "data.val_files": val_files,
        "data.prompt_key": "prompt",
        "data.truncation": "error",
        "data.filter_overlong_prompts": False,  # the converter rejects long rows before training
        "actor_rollout_ref.model.path": model_path,
        f"{A}.entropy_coeff": 0,
        f"{A}.use_dynamic_bsz": False,
        "reward.num_workers": cfg.grpo.reward_num_workers,
        "trainer.project_name": cfg.grpo.project_name,
        "trainer.experiment_name": cfg.run_name,
        "trainer.default_local_dir": checkpoint_dir,
        "trainer.device": cfg.cluster.device,
        "trainer.resume_mode": "auto",
    }
    if cfg.grpo.max_steps is not None:
        fixed["trainer.total_training_steps"] = cfg.grpo.max_steps
    mapped = {row.verl_key: row.value(cfg) for row in PARITY if row.verl_key != "actor_rollout_ref.model.path"}
    merged = {**mapped, **fixed}
    out = [f"{k}={hydra_value(v)}" for k, v in merged.items()]
    extra = dict(cfg.grpo.extra_overrides or {})
    for key, value in extra.items():
        plain = key.lstrip("+~")
        out = [o for o in out if o.split("=", 1)[0].lstrip("+") != plain]
        out.append(f"{key}={value}")
    return out
