"""The one map from our config to verl 0.9.1 `main_ppo` Hydra overrides.

`VERL_OVERRIDES` holds every GRPO hyperparameter verl has a key for: our setting (a config key, or
GRPO/paper.py's name for a derived one), verl's key, and how our value becomes verl's. GRPO/verl_command.py
turns it (plus the run's paths and cluster shape) into `key=value` strings. The paper's values are in
GRPO/paper.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from GRPO.config import VERL_ATTENTION as ATTENTION
from recipes import tracking
from recipes.config_map import MapRow
from recipes.stage import StageError

REWARD_FILE = Path(__file__).resolve().parent.parent / "reward_fns" / "verl_reward.py"
"""`reward.custom_reward_function.path`: the verl face of reward_fns (it makes the package importable)."""
REWARD_FN = "compute_score"

ACTOR = "actor_rollout_ref.actor"
ROLLOUT = "actor_rollout_ref.rollout"


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


VERL_OVERRIDES: tuple[MapRow, ...] = (
    MapRow("data.max_prompt_length", "data.max_prompt_length", _d("max_prompt_length")),
    MapRow("grpo.max_response_length", "data.max_response_length", _g("max_response_length")),
    MapRow("grpo.rollout_batch_size", "data.train_batch_size", _g("rollout_batch_size")),
    MapRow("grpo.seed", "data.seed", _g("seed")),
    MapRow("(image column)", "data.image_key", _const("images"), "fixed: the converter's column"),
    MapRow("grpo.adv_estimator", "algorithm.adv_estimator", _g("adv_estimator")),
    MapRow("grpo.use_kl_loss", f"{ACTOR}.use_kl_loss", _g("use_kl_loss")),
    MapRow("grpo.kl_loss_type", f"{ACTOR}.kl_loss_type", _g("kl_loss_type")),
    MapRow("grpo.kl_coef", f"{ACTOR}.kl_loss_coef", _g("kl_coef")),
    MapRow("grpo.clip_ratio_low", f"{ACTOR}.clip_ratio_low", _g("clip_ratio_low")),
    MapRow("grpo.clip_ratio_high", f"{ACTOR}.clip_ratio_high", _g("clip_ratio_high")),
    MapRow("grpo.clip_ratio_c", f"{ACTOR}.clip_ratio_c", _g("clip_ratio_c")),
    MapRow("grpo.global_batch_size", f"{ACTOR}.ppo_mini_batch_size", _g("global_batch_size")),
    MapRow("grpo.micro_batch_size_per_device_for_update", f"{ACTOR}.ppo_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_update")),
    MapRow("grpo.micro_batch_size_per_device_for_experience", f"{ROLLOUT}.log_prob_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_experience")),
    MapRow("grpo.micro_batch_size_per_device_for_experience", "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu",
        _g("micro_batch_size_per_device_for_experience")),
    MapRow("grpo.max_grad_norm", f"{ACTOR}.optim.clip_grad", _g("max_grad_norm")),
    MapRow("grpo.padding_free", "actor_rollout_ref.model.use_remove_padding", _padding_free,
        "needs flash_attention_2; false without flash-attn"),
    MapRow("grpo.attn_implementation", "+actor_rollout_ref.model.override_config.attn_implementation", attention,
        "auto: flash-attn if importable, else sdpa; preflight"),
    MapRow("grpo.gradient_checkpointing", "actor_rollout_ref.model.enable_gradient_checkpointing",
        _g("gradient_checkpointing")),
    MapRow("grpo.freeze_vision_tower", f"{ACTOR}.freeze_vision_tower", _freeze_vision_tower,
        "true is refused: verl 0.9.1 reads no such key"),
    MapRow("(actor model)", "actor_rollout_ref.model.path", lambda cfg: "<actor model>",
        "sft output `runs/<run>/sft/checkpoint-N`, or `model.path` without SFT"),
    MapRow("grpo.optimizer", f"{ACTOR}.optim.optimizer", lambda cfg: _OPTIMIZERS.get(cfg.grpo.optimizer.lower(), cfg.grpo.optimizer)),
    MapRow("grpo.learning_rate", f"{ACTOR}.optim.lr", _g("learning_rate")),
    MapRow("grpo.weight_decay", f"{ACTOR}.optim.weight_decay", _g("weight_decay")),
    MapRow("grpo.warmup_ratio", f"{ACTOR}.optim.lr_warmup_steps_ratio", _g("warmup_ratio")),
    MapRow("grpo.param_offload", f"{ACTOR}.fsdp_config.param_offload", _g("param_offload")),
    MapRow("grpo.optimizer_offload", f"{ACTOR}.fsdp_config.optimizer_offload", _g("optimizer_offload")),
    MapRow("grpo.ref_param_offload", "actor_rollout_ref.ref.fsdp_config.param_offload", _g("ref_param_offload")),
    MapRow("grpo.rollout_engine", f"{ROLLOUT}.name", _g("rollout_engine")),
    MapRow("grpo.rollout_n", f"{ROLLOUT}.n", _g("rollout_n")),
    MapRow("grpo.temperature", f"{ROLLOUT}.temperature", _g("temperature")),
    MapRow("grpo.top_p", f"{ROLLOUT}.top_p", _g("top_p")),
    MapRow("grpo.gpu_memory_utilization", f"{ROLLOUT}.gpu_memory_utilization", _g("gpu_memory_utilization")),
    MapRow("grpo.tensor_parallel_size", f"{ROLLOUT}.tensor_model_parallel_size", _g("tensor_parallel_size")),
    MapRow("grpo.max_num_seqs", f"{ROLLOUT}.max_num_seqs", _g("max_num_seqs")),
    MapRow("grpo.enforce_eager", f"{ROLLOUT}.enforce_eager", _g("enforce_eager")),
    MapRow("grpo.seed", f"{ROLLOUT}.seed", _g("seed")),
    MapRow("(vLLM max_model_len)", f"{ROLLOUT}.max_model_len",
        lambda cfg: int(cfg.data.max_prompt_length) + int(cfg.grpo.max_response_length),
        "`data.max_prompt_length` + `grpo.max_response_length`"),
    MapRow("grpo.val_temperature", f"{ROLLOUT}.val_kwargs.temperature", _g("val_temperature")),
    MapRow("grpo.val_n", f"{ROLLOUT}.val_kwargs.n", _g("val_n")),
    MapRow("(val sampling)", f"{ROLLOUT}.val_kwargs.do_sample", lambda cfg: cfg.grpo.val_temperature > 0,
        "`grpo.val_temperature` > 0"),
    MapRow("grpo.top_p", f"{ROLLOUT}.val_kwargs.top_p", _g("top_p"), "validation inherits the rollout top_p"),
    MapRow("(reward function)", "reward.custom_reward_function.path", lambda cfg: str(REWARD_FILE),
        "fixed"),
    MapRow("(reward function)", "reward.custom_reward_function.name", _const(REWARD_FN), "fixed"),
    MapRow("grpo.format_weight", "+reward.custom_reward_function.reward_kwargs.format_weight", _g("format_weight")),
    MapRow("grpo.total_epochs", "trainer.total_epochs", _g("total_epochs")),
    MapRow("grpo.save_freq", "trainer.save_freq", _g("save_freq")),
    MapRow("grpo.save_limit", "trainer.max_actor_ckpt_to_keep", _g("save_limit")),
    MapRow("grpo.val_freq", "trainer.test_freq", _test_freq,
        "with `grpo.val_after_train`: -1 + true -> 1000000000, only verl's last-step validation"),
    MapRow("grpo.val_after_train", "trainer.test_freq", _test_freq, "as `grpo.val_freq`"),
    MapRow("grpo.val_before_train", "trainer.val_before_train", _g("val_before_train")),
    MapRow("grpo.loggers", "trainer.logger", _loggers, "or the recipe's `logger` (+ console)"),
    MapRow("cluster.nproc_per_node", "trainer.n_gpus_per_node", lambda cfg: cfg.cluster.nproc_per_node),
    MapRow("cluster.nnodes", "trainer.nnodes", lambda cfg: cfg.cluster.nnodes),
)
"""Every GRPO setting with a verl key, in the order the overrides are written."""
