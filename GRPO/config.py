"""Stage-2 (GRPO) and merge settings. Defaults are the paper's 7B recipe: paper values come from GRPO/parity.py.

Names are backend-neutral: GRPO/verl_overrides.py maps them to verl Hydra keys, GRPO/swift_backend.py
to ms-swift flags. Data-side values (prompt length, pixel limits, system prompt) live in `data:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from GRPO.parity import paper


@dataclass
class GRPOConfig:
    """GRPO hyperparameters, backend-neutral; mapped to verl overrides in one place. Paper values: see
    GRPO/parity.py."""

    backend: str = "verl"
    """`verl` (the paper's path, GPUs + Ray) or `swift` (ms-swift GRPO: CPU tiny runs, one node, no Ray)."""
    # -- rollout ----------------------------------------------------------------------------------
    rollout_n: int = paper("grpo.rollout_n")
    """Responses sampled per prompt, the GRPO group size."""
    rollout_batch_size: int = paper("grpo.rollout_batch_size")
    """Prompts per training step."""
    max_response_length: int = paper("grpo.max_response_length")
    """Generated tokens per response."""
    temperature: float = paper("grpo.temperature")
    """Rollout sampling temperature."""
    top_p: float = paper("grpo.top_p")
    """Rollout nucleus sampling."""
    rollout_engine: str = paper("grpo.rollout_engine")
    """Inference engine for rollouts."""
    tensor_parallel_size: int = paper("grpo.tensor_parallel_size")
    """Rollout engine tensor parallelism per replica."""
    gpu_memory_utilization: float = paper("grpo.gpu_memory_utilization")
    """Share of GPU memory the rollout engine may take."""
    val_temperature: float = paper("grpo.val_temperature")
    """Validation sampling temperature."""
    val_n: int = paper("grpo.val_n")
    """Validation responses per prompt."""
    max_num_seqs: int = paper("grpo.max_num_seqs")
    """vLLM sequences decoded at once per replica (verl's default 256 caps concurrency)."""
    enforce_eager: bool = paper("grpo.enforce_eager")
    """vLLM without CUDA graphs (true for smoke runs, where graph capture dominates)."""
    # -- algorithm --------------------------------------------------------------------------------
    adv_estimator: str = paper("grpo.adv_estimator")
    """Advantage estimator."""
    use_kl_loss: bool = paper("grpo.use_kl_loss")
    """KL to the reference model as a loss term, not in the reward."""
    kl_loss_type: str = paper("grpo.kl_loss_type")
    """KL estimator."""
    kl_coef: float = paper("grpo.kl_coef")
    """KL loss weight."""
    clip_ratio_low: float = paper("grpo.clip_ratio_low")
    """PPO clip, lower side: ratio >= 1 - this."""
    clip_ratio_high: float = paper("grpo.clip_ratio_high")
    """PPO clip, upper side: ratio <= 1 + this (verl's own default 0.2)."""
    clip_ratio_c: float = paper("grpo.clip_ratio_c")
    """Dual clip for negative advantages."""
    # -- actor / optimizer ------------------------------------------------------------------------
    global_batch_size: int = paper("grpo.global_batch_size")
    """Prompts per optimizer update (x rollout_n responses)."""
    micro_batch_size_per_device_for_update: int = paper("grpo.micro_batch_size_per_device_for_update")
    """Responses per device per forward/backward in the update."""
    micro_batch_size_per_device_for_experience: int = paper("grpo.micro_batch_size_per_device_for_experience")
    """Responses per device per log-prob forward, actor and ref."""
    learning_rate: float = paper("grpo.learning_rate")
    """Actor learning rate."""
    optimizer: str = paper("grpo.optimizer")
    """Optimizer."""
    weight_decay: float = paper("grpo.weight_decay")
    """AdamW weight decay."""
    warmup_ratio: float = paper("grpo.warmup_ratio")
    """Share of steps with linear LR warmup."""
    max_grad_norm: float = paper("grpo.max_grad_norm")
    """Gradient clipping norm."""
    padding_free: bool = paper("grpo.padding_free")
    """Remove padding (packed sequences) in actor and ref forwards. verl does it with
    flash-attn's varlen kernels: without flash-attn the preflight turns it off (attn_implementation=auto)."""
    attn_implementation: str = "auto"
    """Actor/ref attention: `auto` (flash_attention_2 when flash-attn imports, else sdpa with padding_free
    off, said loudly and recorded), `flash_attention_2` (refused without flash-attn), `sdpa`, `eager`."""
    gradient_checkpointing: bool = paper("grpo.gradient_checkpointing")
    """Activation checkpointing in the actor."""
    freeze_vision_tower: bool = paper("grpo.freeze_vision_tower")
    """Keep the vision encoder frozen. verl 0.9.1 declares
    `actor.freeze_vision_tower` but no code reads it, so true is refused on the verl backend."""
    param_offload: bool = paper("grpo.param_offload")
    """FSDP: keep actor parameters on CPU between uses."""
    optimizer_offload: bool = paper("grpo.optimizer_offload")
    """FSDP: keep actor optimizer state on CPU."""
    ref_param_offload: bool = paper("grpo.ref_param_offload")
    """FSDP: keep the reference model on CPU."""
    seed: int = paper("grpo.seed")
    """Data shuffling seed and vLLM sampling seed (verl adds each
    replica's rank to the rollout seed and defaults it to 42)."""
    # -- trainer ----------------------------------------------------------------------------------
    total_epochs: int = paper("grpo.total_epochs")
    """Passes over the RL set."""
    max_steps: int | None = paper("grpo.max_steps")
    """Stop after this many steps (null: total_epochs decides; set for smoke runs)."""
    save_freq: int = paper("grpo.save_freq")
    """Save a checkpoint every N steps."""
    save_limit: int = paper("grpo.save_limit")
    """Newest checkpoints kept."""
    val_freq: int = paper("grpo.val_freq")
    """Validate every N steps; -1: not during training."""
    val_before_train: bool = paper("grpo.val_before_train")
    """Validate once before the first step."""
    val_after_train: bool = paper("grpo.val_after_train")
    """Validate once after the last step. verl validates on the last
    step only when test_freq > 0, so with val_freq -1 this sets test_freq to a value no step reaches."""
    loggers: list[str] = field(default_factory=lambda: list(paper("grpo.loggers")))
    """Metric sinks (wandb reads WANDB_API_KEY from the environment)."""
    project_name: str = "rl-cold-start"
    """wandb project."""
    format_weight: float = paper("grpo.format_weight")
    """Weight of the format term in the reward."""
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
