"""Stage-1 (cold-start SFT) settings. Defaults are the paper's 7B recipe (shared/reference/paper.md).

Every value the reference script (`SFT/qwen2.5vl_sft.sh`, ms-swift 3.x) set, and every value it left to
ms-swift 3.x's defaults, is a field here; SFT/flags.py maps them to `swift sft` (ms-swift 4.6) flags and
SFT/README.md has the parity table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SFTConfig:
    """`swift sft` hyperparameters; the flag map to ms-swift lives in SFT/flags.py."""

    num_train_epochs: float = 3.0
    """Epochs over the cold-start set (reference: 3)."""
    learning_rate: float = 1e-5
    """Peak learning rate (reference: unset, ms-swift 3.x full-training default 1e-5)."""
    global_batch_size: int = 64
    """Sequences per optimizer step across all GPUs and nodes (reference: 4 GPUs x 1 x 16 = 64)."""
    per_device_train_batch_size: int = 1
    """Micro batch per device (reference: unset, ms-swift default 1)."""
    gradient_accumulation_steps: int | None = None
    """Null derives it: global_batch_size / (per_device_train_batch_size * nproc_per_node * nnodes)."""
    weight_decay: float = 0.1
    """AdamW weight decay (reference: unset, ms-swift default 0.1)."""
    lr_scheduler_type: str = "cosine"
    """Learning-rate schedule (reference: unset, ms-swift default cosine)."""
    warmup_ratio: float = 0.0
    """Share of steps with linear warm-up (reference: unset, ms-swift default 0)."""
    max_grad_norm: float = 1.0
    """Gradient clipping (reference: unset, transformers default 1.0)."""
    seed: int = 42
    """Training seed (reference: unset, ms-swift default 42)."""
    tuner_type: str = "full"
    """`full` fine-tuning (reference: --train_type full; ms-swift 4.6 renamed it --tuner_type)."""
    freeze_llm: bool = False
    """Freeze the language model (reference: unset, default false)."""
    freeze_vit: bool = True
    """Freeze the vision tower (reference: unset, ms-swift default true: the ViT is not trained)."""
    freeze_aligner: bool = False
    """Freeze the vision-language merger (reference: --freeze_aligner false: it is trained)."""
    max_length: int | None = None
    """Token limit per sample; null keeps ms-swift's default (the model's context length), as the reference."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass (reference: on, ms-swift default)."""
    gradient_checkpointing_use_reentrant: bool = False
    """Reference: --gradient_checkpointing_kwargs '{"use_reentrant": false}'."""
    deepspeed: str | None = "zero2"
    """DeepSpeed preset (reference: zero2); dropped on CPU, where DeepSpeed cannot run."""
    save_steps: int = 20
    """Checkpoint every N optimizer steps (reference: 20)."""
    eval_steps: int = 20
    """Evaluate on the held-out split every N steps (reference: 20)."""
    save_total_limit: int = 2
    """Checkpoints kept on disk; the best by eval loss is always kept too (reference: 2)."""
    save_only_model: bool = True
    """Checkpoints hold weights only, no optimizer state (reference: true); resume then restarts the
    optimizer and keeps the step count and data position."""
    split_dataset_ratio: float = 0.01
    """Share of the training rows held out for eval loss (reference: unset, ms-swift 3.x default 0.01;
    ms-swift 4.6 defaults to 0, which would silently turn evaluation off)."""
    logging_steps: int = 5
    """Log loss every N steps (ms-swift default 5)."""
    dataset_num_proc: int = 1
    """Processes ms-swift uses to tokenise the dataset (ms-swift default 1)."""
    dataloader_num_workers: int | None = None
    """Data-loader workers per process; null keeps ms-swift's default."""
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    """ms-swift / transformers loggers: tensorboard, wandb, swanlab, or none (reference: tensorboard)."""
    checkpoint: str = "last"
    """Checkpoint handed to GRPO: `last` (the reference's choice) or `best` (lowest eval loss)."""
    extra_args: dict[str, str] = field(default_factory=dict)
    """Additional `swift sft` flags passed through verbatim, e.g. {attn_impl: flash_attn}; each key is
    checked against ms-swift's SftArguments before training starts."""
