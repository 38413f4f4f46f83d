"""The one map from our config to verl 0.9.1 `main_ppo` Hydra overrides.

`PARITY` holds every GRPO hyperparameter verl has a key for: our setting (a config key, or GRPO/parity.py's
name for a derived one), verl's key, and how our value becomes verl's. `verl_overrides` turns it (plus the
run's paths and cluster shape) into `key=value` strings. The paper's values are in GRPO/parity.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from recipes import tracking
from recipes.stage import StageError

REWARD_FILE = Path(__file__).resolve().parent.parent / "reward_fns" / "verl_reward.py"
"""`reward.custom_reward_function.path`: the verl face of reward_fns (it makes the package importable)."""
REWARD_FN = "compute_score"

A = "actor_rollout_ref.actor"
R = "actor_rollout_ref.rollout"


@dataclass(frozen=True)
class Row:
    """One hyperparameter: our setting, verl's key, and our value's conversion."""

    key: str
    """Our config key, or GRPO/parity.py's name for a setting with none (parenthesised)."""
    verl_key: str
    value: Callable[[DictConfig], Any]
    note: str = ""
    """How the conversion reads the config, where it is more than a copy."""


def _g(key: str) -> Callable[[DictConfig], Any]:
    return lambda cfg: cfg.grpo[key]


def _d(key: str) -> Callable[[DictConfig], Any]:
    return lambda cfg: cfg.data[key]


def _const(v: Any) -> Callable[[DictConfig], Any]:
    return lambda cfg: v


_OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam"}

FINAL_ONLY = 1_000_000_000
"""`trainer.test_freq` that no step reaches: verl then validates only on its last step (ray_trainer.py:
`test_freq > 0 and (is_last_step or step % test_freq == 0)`), which is the reference's one validation."""

ATTENTION = ("flash_attention_2", "sdpa", "eager")
"""Attention implementations the actor/ref may be built with (`grpo.attn_implementation`, besides auto)."""


class GRPOConfigError(StageError):
    """The grpo settings ask for something verl 0.9.1 would not do (said before anything runs)."""


def attention(cfg: DictConfig) -> str:
    """The actor/ref attention: `auto` stays verl's default (flash_attention_2) until the preflight
    resolves it for the machine (recipes/pipeline/preflight.py)."""
    impl = str(cfg.grpo.get("attn_implementation", "auto"))
    if impl == "auto":
        return "flash_attention_2"
    if impl not in ATTENTION:
        raise GRPOConfigError(f"grpo.attn_implementation={impl!r}: expected auto or one of {', '.join(ATTENTION)}")
    return impl


def _padding_free(cfg: DictConfig) -> bool:
    if cfg.grpo.padding_free and attention(cfg) != "flash_attention_2":
        raise GRPOConfigError(
            f"grpo.padding_free=true needs grpo.attn_implementation=flash_attention_2 (verl patches Qwen2.5-VL "
            f"attention to flash_attn_varlen_func), got {attention(cfg)!r}; set grpo.padding_free=false")
    return bool(cfg.grpo.padding_free)


def _freeze_vision_tower(cfg: DictConfig) -> bool:
    if cfg.grpo.freeze_vision_tower:
        raise GRPOConfigError(
            "grpo.freeze_vision_tower=true is not honoured by verl 0.9.1: it declares "
            "actor_rollout_ref.actor.freeze_vision_tower but no code reads it, so the tower would train anyway; "
            "use grpo.backend=swift (ms-swift --freeze_vit) or leave it false (the reference)")
    return False


def _test_freq(cfg: DictConfig) -> int:
    freq = int(cfg.grpo.val_freq)
    if freq > 0:
        return freq
    return FINAL_ONLY if cfg.grpo.get("val_after_train", True) else -1


def _loggers(cfg: DictConfig) -> Any:
    top = tracking.chosen(cfg)
    return cfg.grpo.loggers if top is None else ["console", *top]


PARITY: tuple[Row, ...] = (
    Row("data.max_prompt_length", "data.max_prompt_length", _d("max_prompt_length")),
    Row("grpo.max_response_length", "data.max_response_length", _g("max_response_length")),
    Row("grpo.rollout_batch_size", "data.train_batch_size", _g("rollout_batch_size")),
    Row("grpo.seed", "data.seed", _g("seed")),
    Row("(image column)", "data.image_key", _const("images"), "fixed: the converter's column"),
    Row("grpo.adv_estimator", "algorithm.adv_estimator", _g("adv_estimator")),
    Row("grpo.use_kl_loss", f"{A}.use_kl_loss", _g("use_kl_loss")),
    Row("grpo.kl_loss_type", f"{A}.kl_loss_type", _g("kl_loss_type")),
    Row("grpo.kl_coef", f"{A}.kl_loss_coef", _g("kl_coef")),
    Row("grpo.clip_ratio_low", f"{A}.clip_ratio_low", _g("clip_ratio_low")),
    Row("grpo.clip_ratio_high", f"{A}.clip_ratio_high", _g("clip_ratio_high")),
    Row("grpo.clip_ratio_c", f"{A}.clip_ratio_c", _g("clip_ratio_c")),
    Row("grpo.global_batch_size", f"{A}.ppo_mini_batch_size", _g("global_batch_size")),
    Row("grpo.micro_batch_size_per_device_for_update", f"{A}.ppo_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_update")),
    Row("grpo.micro_batch_size_per_device_for_experience", f"{R}.log_prob_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_experience")),
    Row("grpo.micro_batch_size_per_device_for_experience", "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_experience")),
    Row("grpo.max_grad_norm", f"{A}.optim.clip_grad", _g("max_grad_norm")),
    Row("grpo.padding_free", "actor_rollout_ref.model.use_remove_padding", _padding_free,
        "needs flash_attention_2; false without flash-attn"),
    Row("grpo.attn_implementation", "+actor_rollout_ref.model.override_config.attn_implementation", attention,
        "auto: flash-attn if importable, else sdpa; preflight"),
    Row("grpo.gradient_checkpointing", "actor_rollout_ref.model.enable_gradient_checkpointing",
        _g("gradient_checkpointing")),
    Row("grpo.freeze_vision_tower", f"{A}.freeze_vision_tower", _freeze_vision_tower,
        "true is refused: verl 0.9.1 reads no such key"),
    Row("(actor model)", "actor_rollout_ref.model.path", lambda cfg: "<actor model>",
        "sft output `runs/<run>/sft/checkpoint-N`, or `model.path` without SFT"),
    Row("grpo.optimizer", f"{A}.optim.optimizer", lambda cfg: _OPTIMIZERS.get(cfg.grpo.optimizer.lower(), cfg.grpo.optimizer)),
    Row("grpo.learning_rate", f"{A}.optim.lr", _g("learning_rate")),
    Row("grpo.weight_decay", f"{A}.optim.weight_decay", _g("weight_decay")),
    Row("grpo.warmup_ratio", f"{A}.optim.lr_warmup_steps_ratio", _g("warmup_ratio")),
    Row("grpo.param_offload", f"{A}.fsdp_config.param_offload", _g("param_offload")),
    Row("grpo.optimizer_offload", f"{A}.fsdp_config.optimizer_offload", _g("optimizer_offload")),
    Row("grpo.ref_param_offload", "actor_rollout_ref.ref.fsdp_config.param_offload", _g("ref_param_offload")),
    Row("grpo.rollout_engine", f"{R}.name", _g("rollout_engine")),
    Row("grpo.rollout_n", f"{R}.n", _g("rollout_n")),
    Row("grpo.temperature", f"{R}.temperature", _g("temperature")),
    Row("grpo.top_p", f"{R}.top_p", _g("top_p")),
    Row("grpo.gpu_memory_utilization", f"{R}.gpu_memory_utilization", _g("gpu_memory_utilization")),
    Row("grpo.tensor_parallel_size", f"{R}.tensor_model_parallel_size", _g("tensor_parallel_size")),
    Row("grpo.max_num_seqs", f"{R}.max_num_seqs", _g("max_num_seqs")),
    Row("grpo.enforce_eager", f"{R}.enforce_eager", _g("enforce_eager")),
    Row("grpo.seed", f"{R}.seed", _g("seed")),
    Row("(vLLM max_model_len)", f"{R}.max_model_len",
        lambda cfg: int(cfg.data.max_prompt_length) + int(cfg.grpo.max_response_length),
        "`data.max_prompt_length` + `grpo.max_response_length`"),
    Row("grpo.val_temperature", f"{R}.val_kwargs.temperature", _g("val_temperature")),
    Row("grpo.val_n", f"{R}.val_kwargs.n", _g("val_n")),
    Row("(val sampling)", f"{R}.val_kwargs.do_sample", lambda cfg: cfg.grpo.val_temperature > 0,
        "`grpo.val_temperature` > 0"),
    Row("grpo.top_p", f"{R}.val_kwargs.top_p", _g("top_p"), "validation inherits the rollout top_p"),
    Row("(reward function)", "reward.custom_reward_function.path", lambda cfg: str(REWARD_FILE),
        "fixed"),
    Row("(reward function)", "reward.custom_reward_function.name", _const(REWARD_FN), "fixed"),
    Row("grpo.format_weight", "+reward.custom_reward_function.reward_kwargs.format_weight", _g("format_weight")),
    Row("grpo.total_epochs", "trainer.total_epochs", _g("total_epochs")),
    Row("grpo.save_freq", "trainer.save_freq", _g("save_freq")),
    Row("grpo.save_limit", "trainer.max_actor_ckpt_to_keep", _g("save_limit")),
    Row("grpo.val_freq", "trainer.test_freq", _test_freq,
        "with `grpo.val_after_train`: -1 + true -> 1000000000, only verl's last-step validation"),
    Row("grpo.val_after_train", "trainer.test_freq", _test_freq, "as `grpo.val_freq`"),
    Row("grpo.val_before_train", "trainer.val_before_train", _g("val_before_train")),
    Row("grpo.loggers", "trainer.logger", _loggers, "or the recipe's `logger` (+ console)"),
    Row("cluster.nproc_per_node", "trainer.n_gpus_per_node", lambda cfg: cfg.cluster.nproc_per_node),
    Row("cluster.nnodes", "trainer.nnodes", lambda cfg: cfg.cluster.nnodes),
)
"""Every GRPO setting with a verl key, in the order the overrides are written."""


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
        f"{A}.entropy_coeff": 0,
        f"{A}.use_dynamic_bsz": False,
        "reward.num_workers": cfg.grpo.reward_num_workers,
        "trainer.project_name": tracking.project(cfg),
        "trainer.experiment_name": tracking.experiment(cfg, "grpo") if tracking.chosen(cfg) else cfg.run_name,
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
