"""Stage-2 (GRPO) and merge settings. Defaults are the paper's 7B recipe (shared/reference/paper.md).

Names are backend-neutral: GRPO/verl_overrides.py maps them to verl Hydra keys, GRPO/swift_backend.py
to ms-swift flags. Data-side values (prompt length, pixel limits, system prompt) live in `data:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GRPOConfig:
    """GRPO hyperparameters, backend-neutral; mapped to verl overrides in one place."""

    backend: str = "verl"
    """`verl` (the paper's path, GPUs + Ray) or `swift` (ms-swift GRPO: CPU tiny runs, one node, no Ray)."""
    # -- rollout ----------------------------------------------------------------------------------
    rollout_n: int = 10
    """Responses sampled per prompt, the GRPO group size (reference: rollout.n 10)."""
    rollout_batch_size: int = 512
    """Prompts per training step (reference: data.rollout_batch_size 512)."""
    max_response_length: int = 2048
    """Generated tokens per response (reference: data.max_response_length 2048)."""
    temperature: float = 0.7
    """Rollout sampling temperature (reference: 0.7)."""
    top_p: float = 0.99
    """Rollout nucleus sampling (reference: 0.99)."""
    rollout_engine: str = "vllm"
    """Inference engine for rollouts (reference: vLLM)."""
    tensor_parallel_size: int = 2
    """Rollout engine tensor parallelism per replica (reference: 2)."""
    gpu_memory_utilization: float = 0.6
    """Share of GPU memory the rollout engine may take (reference: 0.6)."""
    val_temperature: float = 0.5
    """Validation sampling temperature (reference: 0.5)."""
    val_n: int = 1
    """Validation responses per prompt (reference: 1)."""
    max_num_seqs: int = 1024
    """vLLM sequences decoded at once per replica (reference: 1024; verl's default 256 caps concurrency)."""
    enforce_eager: bool = False
    """vLLM without CUDA graphs (reference: false; true for smoke runs, where graph capture dominates)."""
    # -- algorithm --------------------------------------------------------------------------------
    adv_estimator: str = "grpo"
    """Advantage estimator (reference: grpo)."""
    use_kl_loss: bool = True
    """KL to the reference model as a loss term, not in the reward (reference: true)."""
    kl_loss_type: str = "low_var_kl"
    """KL estimator (reference: kl_penalty low_var_kl)."""
    kl_coef: float = 1e-2
    """KL loss weight (reference: kl_coef 1e-2)."""
    clip_ratio_low: float = 0.2
    """PPO clip, lower side: ratio >= 1 - this (reference EasyR1 default: 0.2)."""
    clip_ratio_high: float = 0.3
    """PPO clip, upper side: ratio <= 1 + this (reference EasyR1 default: 0.3; verl's own default 0.2)."""
    clip_ratio_c: float = 3.0
    """Dual clip for negative advantages (reference EasyR1 clip_ratio_dual: 3.0)."""
    # -- actor / optimizer ------------------------------------------------------------------------
    global_batch_size: int = 128
    """Prompts per optimizer update (x rollout_n responses; reference: actor.global_batch_size 128)."""
    micro_batch_size_per_device_for_update: int = 4
    """Responses per device per forward/backward in the update (reference: 4)."""
    micro_batch_size_per_device_for_experience: int = 8
    """Responses per device per log-prob forward, actor and ref (reference: 8)."""
    learning_rate: float = 1e-6
    """Actor learning rate (reference: 1e-6)."""
    optimizer: str = "adamw"
    """Optimizer (reference: adamw)."""
    weight_decay: float = 1e-2
    """AdamW weight decay (reference: 1e-2)."""
    warmup_ratio: float = 0.0
    """Share of steps with linear LR warmup (reference: lr_warmup_ratio 0)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (reference: 1.0)."""
    padding_free: bool = True
    """Remove padding (packed sequences) in actor and ref forwards (reference: true). verl does it with
    flash-attn's varlen kernels: without flash-attn the preflight turns it off (attn_implementation=auto)."""
    attn_implementation: str = "auto"
    """Actor/ref attention: `auto` (flash_attention_2 when flash-attn imports, else sdpa with padding_free
    off, said loudly and recorded), `flash_attention_2` (refused without flash-attn), `sdpa`, `eager`."""
    gradient_checkpointing: bool = True
    """Activation checkpointing in the actor (reference: true)."""
    freeze_vision_tower: bool = False
    """Keep the vision encoder frozen (reference: false: it trains). verl 0.9.1 declares
    `actor.freeze_vision_tower` but no code reads it, so true is refused on the verl backend."""
    param_offload: bool = True
    """FSDP: keep actor parameters on CPU between uses (reference: true)."""
    optimizer_offload: bool = True
    """FSDP: keep actor optimizer state on CPU (reference: true)."""
    ref_param_offload: bool = True
    """FSDP: keep the reference model on CPU (reference: ref offload_params true)."""
    seed: int = 1
    """Data shuffling seed and vLLM sampling seed (reference: data.seed 1, rollout seed 1; verl adds each
    replica's rank to the rollout seed and defaults it to 42)."""
    # -- trainer ----------------------------------------------------------------------------------
    total_epochs: int = 2
    """Passes over the RL set (reference: trainer.total_episodes 2)."""
    max_steps: int | None = None
    """Stop after this many steps (null: total_epochs decides; set for smoke runs)."""
    save_freq: int = 5
    """Save a checkpoint every N steps (reference: 5)."""
    save_limit: int = 7
    """Newest checkpoints kept (reference: save_limit 7)."""
    val_freq: int = -1
    """Validate every N steps; -1: not during training (reference: val_freq -1)."""
    val_before_train: bool = False
    """Validate once before the first step (reference: false)."""
    val_after_train: bool = True
    """Validate once after the last step (reference: true, EasyR1 always does). verl validates on the last
    step only when test_freq > 0, so with val_freq -1 this sets test_freq to a value no step reaches."""
    loggers: list[str] = field(default_factory=lambda: ["console", "wandb"])
    """Metric sinks (reference: console + wandb; wandb reads WANDB_API_KEY from the environment)."""
    project_name: str = "rl-cold-start"
    """wandb project."""
    format_weight: float = 0.0
    """Weight of the format term in the reward (reference: 0, accuracy only)."""
    reward_num_workers: int = 8
    """Processes that score responses in parallel."""
    extra_overrides: dict[str, str] = field(default_factory=dict)
    """Additional backend overrides passed through verbatim (verl Hydra keys or ms-swift flags)."""


@dataclass
class MergeConfig:
    """How verl's FSDP shards become one Hugging Face model (GRPO/merger)."""

    dtype: str | None = None
    """Output dtype: null keeps the checkpoint's own dtype; `bf16` matches verl's merger."""
    max_shard_size: str = "5GB"
    """Largest safetensors file written."""
    step: int | None = None
    """global_step to merge; null means the grpo stage's final step (its newest checkpoint)."""
