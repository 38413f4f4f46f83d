"""Stage-2 (GRPO) and merge settings. Defaults are the paper's 7B recipe: paper values come from GRPO/paper.py.

Names are backend-neutral: GRPO/verl_overrides.py maps them to verl Hydra keys, GRPO/swift_backend.py
to ms-swift flags. Data-side values (prompt length, pixel limits, system prompt) live in `data:`.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from GRPO.paper import paper
from recipes.checks import Problem, check, free

GRPO_BACKENDS = ("verl", "swift")
VERL_ROLLOUTS = ("vllm", "sglang", "trtllm")
"""verl 0.9.1's rollout engines (verl/workers/rollout/base.py)."""
ROLLOUT_ENGINES = (*VERL_ROLLOUTS, "transformers")
"""Any backend's: ms-swift adds `transformers` (and refuses sglang, trtllm)."""
ADV_ESTIMATORS = ("gae", "grpo", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "remax", "rloo", "opo",
                  "grpo_passk", "gpg", "rloo_vectorized", "grpo_vectorized", "optimal_token_baseline",
                  "tir_optimal_token_baseline", "gdpo")
"""verl 0.9.1's AdvantageEstimator (tests/test_config_rules.py checks them against verl)."""
KL_LOSS_TYPES = (*(k + s for k in ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3") for s in ("", "+")), "full")
"""verl 0.9.1's kl_penalty estimators (`+`: straight-through gradient)."""
OPTIMIZERS = ("adamw", "adam")
VERL_ATTENTION = ("flash_attention_2", "sdpa", "eager")
"""Attention implementations the actor/ref may be built with (GRPO/verl_overrides.py passes them to verl)."""
ATTENTION = ("auto", *VERL_ATTENTION)
"""`auto` or an implementation the actor/ref may be built with."""
LOGGERS = ("console", "wandb", "tensorboard", "swanlab", "mlflow", "clearml", "trackio", "file", "vemlp_wandb")
"""verl's tracking backends (verl/utils/tracking.py); the swift backend maps console, wandb, tensorboard, swanlab."""
MERGE_DTYPES = ("bf16", "bfloat16", "fp16", "float16", "fp32", "float32")
"""GRPO/merger's output dtypes."""


@dataclass
class GRPOConfig:
    """GRPO hyperparameters, backend-neutral; mapped to verl overrides in one place. Paper values: see
    GRPO/paper.py."""

    backend: str = check("verl", choices=GRPO_BACKENDS)
    """`verl` (the paper's path, GPUs + Ray) or `swift` (ms-swift GRPO: CPU tiny runs, one node, no Ray)."""
    # -- rollout ----------------------------------------------------------------------------------
    rollout_n: int = check(paper("grpo.rollout_n"), ge=2)
    """Responses sampled per prompt, the GRPO group size."""
    rollout_batch_size: int = check(paper("grpo.rollout_batch_size"), ge=1)
    """Prompts per training step."""
    max_response_length: int = check(paper("grpo.max_response_length"), ge=1)
    """Generated tokens per response."""
    temperature: float = check(paper("grpo.temperature"), gt=0)
    """Rollout sampling temperature."""
    top_p: float = check(paper("grpo.top_p"), gt=0, le=1)
    """Rollout nucleus sampling."""
    rollout_engine: str = check(paper("grpo.rollout_engine"), choices=ROLLOUT_ENGINES)
    """Inference engine for rollouts."""
    tensor_parallel_size: int = check(paper("grpo.tensor_parallel_size"), ge=1)
    """Rollout engine tensor parallelism per replica."""
    gpu_memory_utilization: float = check(paper("grpo.gpu_memory_utilization"), gt=0, le=1)
    """Share of GPU memory the rollout engine may take."""
    val_temperature: float = check(paper("grpo.val_temperature"), ge=0)
    """Validation sampling temperature."""
    val_n: int = check(paper("grpo.val_n"), ge=1)
    """Validation responses per prompt."""
    max_num_seqs: int = check(paper("grpo.max_num_seqs"), ge=1)
    """vLLM sequences decoded at once per replica (verl's default 256 caps concurrency)."""
    enforce_eager: bool = check(paper("grpo.enforce_eager"))
    """vLLM without CUDA graphs (true for smoke runs, where graph capture dominates)."""
    # -- algorithm --------------------------------------------------------------------------------
    adv_estimator: str = check(paper("grpo.adv_estimator"), choices=ADV_ESTIMATORS)
    """Advantage estimator."""
    use_kl_loss: bool = check(paper("grpo.use_kl_loss"))
    """KL to the reference model as a loss term, not in the reward."""
    kl_loss_type: str = check(paper("grpo.kl_loss_type"), choices=KL_LOSS_TYPES)
    """KL estimator."""
    kl_coef: float = check(paper("grpo.kl_coef"), ge=0)
    """KL loss weight."""
    clip_ratio_low: float = check(paper("grpo.clip_ratio_low"), gt=0, lt=1)
    """PPO clip, lower side: ratio >= 1 - this."""
    clip_ratio_high: float = check(paper("grpo.clip_ratio_high"), gt=0)
    """PPO clip, upper side: ratio <= 1 + this (verl's own default 0.2)."""
    clip_ratio_c: float = check(paper("grpo.clip_ratio_c"), gt=1)
    """Dual clip for negative advantages."""
    # -- actor / optimizer ------------------------------------------------------------------------
    global_batch_size: int = check(paper("grpo.global_batch_size"), ge=1)
    """Prompts per optimizer update (x rollout_n responses)."""
    micro_batch_size_per_device_for_update: int = check(paper("grpo.micro_batch_size_per_device_for_update"), ge=1)
    """Responses per device per forward/backward in the update."""
    micro_batch_size_per_device_for_experience: int = check(paper("grpo.micro_batch_size_per_device_for_experience"), ge=1)
    """Responses per device per log-prob forward, actor and ref."""
    learning_rate: float = check(paper("grpo.learning_rate"), gt=0)
    """Actor learning rate."""
    optimizer: str = check(paper("grpo.optimizer"), choices=OPTIMIZERS)
    """Optimizer."""
    weight_decay: float = check(paper("grpo.weight_decay"), ge=0)
    """AdamW weight decay."""
    warmup_ratio: float = check(paper("grpo.warmup_ratio"), ge=0, le=1)
    """Share of steps with linear LR warmup."""
    max_grad_norm: float = check(paper("grpo.max_grad_norm"), gt=0)
    """Gradient clipping norm."""
    padding_free: bool = check(paper("grpo.padding_free"))
    """Remove padding (packed sequences) in actor and ref forwards. verl does it with
    flash-attn's varlen kernels: without flash-attn the preflight turns it off (attn_implementation=auto)."""
    attn_implementation: str = check("auto", choices=ATTENTION)
    """Actor/ref attention: `auto` (flash_attention_2 when flash-attn imports, else sdpa with padding_free
    off, said loudly and recorded), `flash_attention_2` (refused without flash-attn), `sdpa`, `eager`."""
    gradient_checkpointing: bool = check(paper("grpo.gradient_checkpointing"))
    """Activation checkpointing in the actor."""
    freeze_vision_tower: bool = check(paper("grpo.freeze_vision_tower"))
    """Keep the vision encoder frozen. verl 0.9.1 declares
    `actor.freeze_vision_tower` but no code reads it, so true is refused on the verl backend."""
    param_offload: bool = check(paper("grpo.param_offload"))
    """FSDP: keep actor parameters on CPU between uses."""
    optimizer_offload: bool = check(paper("grpo.optimizer_offload"))
    """FSDP: keep actor optimizer state on CPU."""
    ref_param_offload: bool = check(paper("grpo.ref_param_offload"))
    """FSDP: keep the reference model on CPU."""
    seed: int = check(paper("grpo.seed"), ge=0)
    """Data shuffling seed and vLLM sampling seed (verl adds each
    replica's rank to the rollout seed and defaults it to 42)."""
    # -- trainer ----------------------------------------------------------------------------------
    total_epochs: int = check(paper("grpo.total_epochs"), ge=1)
    """Passes over the RL set."""
    max_steps: int | None = check(paper("grpo.max_steps"), ge=1)
    """Stop after this many steps (null: total_epochs decides; set for smoke runs)."""
    save_freq: int = check(paper("grpo.save_freq"), ge=1)
    """Save a checkpoint every N steps."""
    save_limit: int = check(paper("grpo.save_limit"), ge=1)
    """Newest checkpoints kept."""
    val_freq: int = check(paper("grpo.val_freq"), ge=-1)
    """Validate every N steps; -1: not during training."""
    val_before_train: bool = check(paper("grpo.val_before_train"))
    """Validate once before the first step."""
    val_after_train: bool = check(paper("grpo.val_after_train"))
    """Validate once after the last step. verl validates on the last
    step only when test_freq > 0, so with val_freq -1 this sets test_freq to a value no step reaches."""
    loggers: list[str] = check(factory=lambda: list(paper("grpo.loggers")), choices=LOGGERS)
    """Metric sinks (wandb reads WANDB_API_KEY from the environment)."""
    project_name: str = free("rl-cold-start", "a wandb project name")
    """wandb project."""
    format_weight: float = check(paper("grpo.format_weight"), ge=0, le=1)
    """Weight of the format term in the reward."""
    reward_num_workers: int = check(8, ge=1)
    """Processes that score responses in parallel."""
    extra_overrides: dict[str, str] = free(factory=dict, why="backend keys, checked by verl's config code or ms-swift's "
                                           "parser in the grpo stage's check")
    """Additional backend overrides passed through verbatim (verl Hydra keys or ms-swift flags)."""

    @staticmethod
    def relations(grpo: DictConfig) -> list[Problem]:
        rollout, update = grpo.rollout_batch_size, grpo.global_batch_size
        if rollout % update:
            return [Problem("grpo.global_batch_size", update, f"must divide grpo.rollout_batch_size ({rollout}): "
                            "each rollout feeds a whole number of optimizer updates")]
        return []


@dataclass
class MergeConfig:
    """How verl's FSDP shards become one Hugging Face model (GRPO/merger)."""

    dtype: str | None = check(None, choices=MERGE_DTYPES)
    """Output dtype: null keeps the checkpoint's own dtype; `bf16` matches verl's merger."""
    max_shard_size: str = check("5GB", pattern=r"\d+(\.\d+)?\s*([KMGT]i?B|B)?")
    """Largest safetensors file written."""
    step: int | None = check(None, ge=1)
    """global_step to merge; null means the grpo stage's final step (its newest checkpoint)."""
