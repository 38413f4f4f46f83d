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

from recipes.stage import StageError

REWARD_FILE = Path(__file__).resolve().parent.parent / "reward_fns" / "verl_reward.py"
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

FINAL_ONLY = 1_000_000_000
"""`trainer.test_freq` that no step reaches: verl then validates only on its last step (ray_trainer.py:
`test_freq > 0 and (is_last_step or step % test_freq == 0)`), which is the reference's one validation."""

ATTENTION = ("flash_attention_2", "sdpa", "eager")
"""Attention implementations the actor/ref may be built with (`grpo.attn_implementation`, besides auto)."""


class GRPOConfigError(StageError):
    """The grpo settings ask for something verl 0.9.1 would not do (said before anything runs)."""


def attention(cfg: DictConfig) -> str:
    """The actor/ref attention: `auto` stays verl's default (flash_attention_2) until the preflight
    resolves it for the machine (recipes/preflight.py)."""
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
    Row("worker.actor.clip_ratio_low", "0.2", f"{A}.clip_ratio_low", _g("clip_ratio_low")),
    Row("worker.actor.clip_ratio_high", "0.3", f"{A}.clip_ratio_high", _g("clip_ratio_high")),
    Row("worker.actor.clip_ratio_dual", "3.0", f"{A}.clip_ratio_c", _g("clip_ratio_c")),
    Row("worker.actor.global_batch_size", "128", f"{A}.ppo_mini_batch_size", _g("global_batch_size")),
    Row("worker.actor.micro_batch_size_per_device_for_update", "4", f"{A}.ppo_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_update")),
    Row("worker.actor.micro_batch_size_per_device_for_experience", "8",
        f"{R}.log_prob_micro_batch_size_per_gpu", _g("micro_batch_size_per_device_for_experience")),
    Row("worker.actor.micro_batch_size_per_device_for_experience", "8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", _g("micro_batch_size_per_device_for_experience")),
    Row("worker.actor.max_grad_norm", "1.0", f"{A}.optim.clip_grad", _g("max_grad_norm")),
    Row("worker.actor.padding_free", "true", "actor_rollout_ref.model.use_remove_padding", _padding_free),
    Row("(padding_free attention: flash-attn 2)", "flash_attention_2",
        "+actor_rollout_ref.model.override_config.attn_implementation", attention),
    Row("worker.actor.model.enable_gradient_checkpointing", "true",
        "actor_rollout_ref.model.enable_gradient_checkpointing", _g("gradient_checkpointing")),
    Row("worker.actor.model.freeze_vision_tower", "false", f"{A}.freeze_vision_tower", _freeze_vision_tower),
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
    Row("worker.ref.fsdp.enable_cpu_offload", "true", "actor_rollout_ref.ref.fsdp_config.param_offload",
        _g("ref_param_offload")),
    Row("worker.rollout.name", "vllm", f"{R}.name", _g("rollout_engine")),
    Row("worker.rollout.n", "10", f"{R}.n", _g("rollout_n")),
    Row("worker.rollout.temperature", "0.7", f"{R}.temperature", _g("temperature")),
    Row("worker.rollout.top_p", "0.99", f"{R}.top_p", _g("top_p")),
    Row("worker.rollout.gpu_memory_utilization", "0.6", f"{R}.gpu_memory_utilization", _g("gpu_memory_utilization")),
    Row("worker.rollout.tensor_parallel_size", "2", f"{R}.tensor_model_parallel_size", _g("tensor_parallel_size")),
    Row("worker.rollout.max_num_seqs", "1024", f"{R}.max_num_seqs", _g("max_num_seqs")),
    Row("worker.rollout.enforce_eager", "false", f"{R}.enforce_eager", _g("enforce_eager")),
    Row("worker.rollout.seed", "1", f"{R}.seed", _g("seed")),
    Row("(vLLM max_model_len = prompt + response)", "4096", f"{R}.max_model_len",
        lambda cfg: int(cfg.data.max_prompt_length) + int(cfg.grpo.max_response_length)),
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
    Row("trainer.val_freq (+ EasyR1's validation after the last step)", "-1 (once, after training)",
        "trainer.test_freq", _test_freq),
    Row("trainer.val_before_train", "false", "trainer.val_before_train", _g("val_before_train")),
    Row("trainer.logger", "[console, wandb]", "trainer.logger", _g("loggers")),
    Row("trainer.n_gpus_per_node", "8", "trainer.n_gpus_per_node", lambda cfg: cfg.cluster.nproc_per_node),
    Row("trainer.nnodes", "1", "trainer.nnodes", lambda cfg: cfg.cluster.nnodes),
)
"""Every reference GRPO value with a verl counterpart, in the order the overrides are written."""

NO_COUNTERPART: dict[str, str] = {
    "data.prompt_key problem / data.answer_key answer": "GRPO/convert.py writes verl's schema: `prompt` "
    "(the problem as one user turn, as the reference builds it) and `reward_model.ground_truth`; verl reads "
    "`data.prompt_key=prompt`.",
    "(no system message in RL prompts)": "the reference sends the raw problem as the only user turn; Qwen's "
    "template adds its default system message. `data.rl_system_prompt=true` writes SFT's system prompt "
    "instead (a named departure).",
    "data.max_pixels 1204224 / data.min_pixels 262144": "verl has no data-level pixel limits: the converter "
    "writes `max_pixels` / `min_pixels` into every image dict of the parquet (qwen_vl_utils honours them).",
    "data.val_batch_size 500": "deprecated in verl 0.9.1 (the validation set goes to the engine as one batch).",
    "data.format_prompt (none)": "nothing appended to the problem, as in the reference.",
    "worker.actor.fsdp.enable_full_shard true": "verl's FSDP shards fully by default (`fsdp_size=-1`).",
    "worker.actor.fsdp.enable_rank0_init true": "verl's FSDP workers load the weights "
    "once and start the other ranks empty (meta device) by themselves; no key.",
    "worker.reward.n 10 (one score per sampled response)": "verl's reward manager scores every one of the "
    "rollout.n responses; `reward.num_workers` sets its parallelism (`grpo.reward_num_workers`).",
    "trainer.max_steps (unset)": "`grpo.max_steps` -> `trainer.total_training_steps` (smoke runs only).",
    "trainer.save_checkpoint_path": "`trainer.default_local_dir` = runs/<run>/grpo/checkpoints.",
    "(loss aggregation) DIFFERS": "EasyR1 takes the token mean of each micro-batch and averages micro-batches "
    "(`loss / gradient_accumulation`); verl's `loss_agg_mode=token-mean` divides by the tokens of the whole "
    "mini-batch, so long and short micro-batches weigh by their tokens. Same on equal-length micro-batches; "
    "no verl mode reproduces EasyR1's exactly.",
    "(reference-model dtype) DIFFERS": "EasyR1 keeps the reference model's parameters in bf16; verl's FSDP "
    "engine keeps them in fp32 (`model_dtype: fp32`) and computes in bf16: same log-probs up to rounding, "
    "about twice the host memory for the offloaded reference.",
    "(rollout seed) DIFFERS": "both seed vLLM with 1 (`rollout.seed`), but verl adds each replica's rank, "
    "so with 4 TP-2 replicas the samples differ from EasyR1's single-engine stream.",
    "(vLLM chunked prefill) DIFFERS": "EasyR1 passes `enable_chunked_prefill=False` (its comment: a V0-engine "
    "setting); verl keeps its default `rollout.enable_chunked_prefill: true`, which we leave: it changes how "
    "prefills are scheduled, not what is sampled.",
}
"""Reference keys without a one-to-one verl key, what we do instead, and the differences that remain."""

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
        # verl's older (v0) PPO trainer: the one these overrides are checked against. The v1 trainer
        # (TransferQueue, installed with verl 0.9.1) is verl's default; try it with extra_overrides.
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
