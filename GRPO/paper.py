"""The paper's GRPO values, each written once, as data (no imports from the project).

`REFERENCE` maps our config key (or, for a setting we derive, a parenthesised name) to the reference key
in EasyR1's config (the paper's stage-2 code) and its typed value (shared/reference/paper.md, "Stage 2").
The schema defaults in GRPO/config.py are read from here; the conversions live in the two backend maps,
GRPO/verl_overrides.py (verl Hydra keys) and GRPO/swift_flags.py (ms-swift flags), which know nothing of
the reference. recipes/pipeline/parity_tables.py joins the three into GRPO/README.md's tables
(`python -m recipes.pipeline.parity_tables --write`); tests/test_grpo_parity.py checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

Value = bool | int | float | str | tuple[str, ...] | None
"""A reference value: what a paper setting holds (a list setting is a tuple, so the table stays frozen)."""


@dataclass(frozen=True)
class PaperValue:
    """One reference setting: where the reference sets it, the paper's value, and (SFT) how ours compares."""

    reference: str
    """The reference's key or flag (EasyR1 config key, ms-swift 3.x flag), or a parenthesised description."""
    value: Value
    note: str = ""
    """How our recipe's value compares, where the table says it (SFT/README.md)."""


REFERENCE: dict[str, PaperValue] = {
    # -- data -------------------------------------------------------------------------------------
    "data.max_prompt_length": PaperValue("data.max_prompt_length", 2048),
    "data.max_pixels": PaperValue("data.max_pixels", 1204224),
    "data.min_pixels": PaperValue("data.min_pixels", 262144),
    "grpo.max_response_length": PaperValue("data.max_response_length", 2048),
    "grpo.rollout_batch_size": PaperValue("data.rollout_batch_size", 512),
    "grpo.seed": PaperValue("data.seed / worker.rollout.seed", 1),
    "(image column)": PaperValue("data.image_key", "images"),
    # -- algorithm --------------------------------------------------------------------------------
    "grpo.adv_estimator": PaperValue("algorithm.adv_estimator", "grpo"),
    "grpo.use_kl_loss": PaperValue("algorithm.use_kl_loss", True),
    "grpo.kl_loss_type": PaperValue("algorithm.kl_penalty", "low_var_kl"),
    "grpo.kl_coef": PaperValue("algorithm.kl_coef", 1e-2),
    "grpo.clip_ratio_low": PaperValue("worker.actor.clip_ratio_low", 0.2),
    "grpo.clip_ratio_high": PaperValue("worker.actor.clip_ratio_high", 0.3),
    "grpo.clip_ratio_c": PaperValue("worker.actor.clip_ratio_dual", 3.0),
    "(policy loss aggregation)": PaperValue("(EasyR1 actor loss)", "token mean per micro-batch"),
    # -- actor / optimizer ------------------------------------------------------------------------
    "grpo.global_batch_size": PaperValue("worker.actor.global_batch_size", 128),
    "grpo.micro_batch_size_per_device_for_update": PaperValue("worker.actor.micro_batch_size_per_device_for_update", 4),
    "grpo.micro_batch_size_per_device_for_experience": PaperValue(
        "worker.actor.micro_batch_size_per_device_for_experience", 8),
    "grpo.max_grad_norm": PaperValue("worker.actor.max_grad_norm", 1.0),
    "grpo.padding_free": PaperValue("worker.actor.padding_free", True),
    "grpo.attn_implementation": PaperValue("(padding_free attention: flash-attn 2)", "flash_attention_2"),
    "grpo.gradient_checkpointing": PaperValue("worker.actor.model.enable_gradient_checkpointing", True),
    "grpo.freeze_vision_tower": PaperValue("worker.actor.model.freeze_vision_tower", False),
    "(actor model)": PaperValue("worker.actor.model.model_path", "<SFT checkpoint>"),
    "grpo.optimizer": PaperValue("worker.actor.optim.strategy", "adamw"),
    "grpo.learning_rate": PaperValue("worker.actor.optim.lr", 1e-6),
    "grpo.weight_decay": PaperValue("worker.actor.optim.weight_decay", 1e-2),
    "grpo.warmup_ratio": PaperValue("worker.actor.optim.lr_warmup_ratio", 0.0),
    "(lr schedule)": PaperValue("(EasyR1 lr scheduler)", "constant"),
    "grpo.param_offload": PaperValue("worker.actor.offload.offload_params", True),
    "grpo.optimizer_offload": PaperValue("worker.actor.offload.offload_optimizer", True),
    "grpo.ref_param_offload": PaperValue("worker.ref.fsdp.enable_cpu_offload", True),
    # -- rollout ----------------------------------------------------------------------------------
    "grpo.rollout_engine": PaperValue("worker.rollout.name", "vllm"),
    "grpo.rollout_n": PaperValue("worker.rollout.n", 10),
    "grpo.temperature": PaperValue("worker.rollout.temperature", 0.7),
    "grpo.top_p": PaperValue("worker.rollout.top_p", 0.99),
    "(top_k)": PaperValue("worker.rollout.top_k", -1),
    "(repetition penalty)": PaperValue("(EasyR1 sampling: no repetition penalty)", 1.0),
    "grpo.gpu_memory_utilization": PaperValue("worker.rollout.gpu_memory_utilization", 0.6),
    "grpo.tensor_parallel_size": PaperValue("worker.rollout.tensor_parallel_size", 2),
    "grpo.max_num_seqs": PaperValue("worker.rollout.max_num_seqs", 1024),
    "grpo.enforce_eager": PaperValue("worker.rollout.enforce_eager", False),
    "(vLLM max_model_len)": PaperValue("(vLLM max_model_len = prompt + response)", 4096),
    "grpo.val_temperature": PaperValue("worker.rollout.val_override_config.temperature", 0.5),
    "grpo.val_n": PaperValue("worker.rollout.val_override_config.n", 1),
    "(val sampling)": PaperValue("(val sampling: temperature > 0)", True),
    # -- reward -----------------------------------------------------------------------------------
    "(reward function)": PaperValue("worker.reward.score_function", "math.py:compute_score"),
    "grpo.format_weight": PaperValue("(math.py format weight)", 0.0),
    # -- trainer ----------------------------------------------------------------------------------
    "grpo.total_epochs": PaperValue("trainer.total_episodes", 2),
    "grpo.max_steps": PaperValue("trainer.max_steps", None),
    "grpo.save_freq": PaperValue("trainer.save_freq", 5),
    "grpo.save_limit": PaperValue("trainer.save_limit", 7),
    "grpo.val_freq": PaperValue("trainer.val_freq", -1),
    "grpo.val_after_train": PaperValue("(EasyR1 validates after the last step)", True),
    "grpo.val_before_train": PaperValue("trainer.val_before_train", False),
    "grpo.loggers": PaperValue("trainer.logger", ("console", "wandb")),
    "cluster.nproc_per_node": PaperValue("trainer.n_gpus_per_node", 8),
    "cluster.nnodes": PaperValue("trainer.nnodes", 1),
}
"""Every reference GRPO value, keyed by our config key (parenthesised: a setting with no key of its own)."""

DIFFERENCES: dict[str, str] = {
    "grpo.attn_implementation": "`auto`: flash_attention_2 (the reference's) when flash-attn imports, else sdpa "
    "with padding_free off, said loudly and recorded by the preflight.",
    "(actor model)": "the actor starts from the sft stage's checkpoint (`model.path` when no SFT ran).",
    "(reward function)": "reward_fns' verl face (`reward_fns/verl_reward.py:compute_score`) grades as EasyR1's math.py "
    "does: the last `\\boxed{}` through mathruler's `grade_answer`.",
    "(policy loss aggregation)": "EasyR1 takes the token mean of each micro-batch and averages micro-batches "
    "(`loss / gradient_accumulation`); verl's `loss_agg_mode=token-mean` and ms-swift's `loss_type dapo` divide "
    "by the tokens of the whole mini-batch, so long and short micro-batches weigh by their tokens. Same on "
    "equal-length micro-batches; neither backend reproduces EasyR1's exactly.",
}
"""REFERENCE keys where the 7B recipe's value differs from the paper's, and why."""

NO_COUNTERPART: dict[str, str] = {
    "data.prompt_key problem / data.answer_key answer": "GRPO/rl_rows.py writes verl's schema: `prompt` "
    "(the problem as one user turn, as the reference builds it) and `reward_model.ground_truth`; verl reads "
    "`data.prompt_key=prompt`.",
    "(no system message in RL prompts)": "the reference sends the raw problem as the only user turn; Qwen's "
    "template adds its default system message. `data.rl_system_prompt=true` writes SFT's system prompt "
    "instead (a named departure).",
    "data.max_pixels / data.min_pixels": "verl has no data-level pixel limits: the converter "
    "writes `max_pixels` / `min_pixels` into every image dict of the parquet (qwen_vl_utils honours them).",
    "data.val_batch_size 500": "deprecated in verl 0.9.1 (the validation set goes to the engine as one batch).",
    "data.format_prompt (none)": "nothing appended to the problem, as in the reference.",
    "worker.actor.fsdp.enable_full_shard true": "verl's FSDP shards fully by default (`fsdp_size=-1`).",
    "worker.actor.fsdp.enable_rank0_init true": "verl's FSDP workers load the weights "
    "once and start the other ranks empty (meta device) by themselves; no key.",
    "worker.reward.n (one score per sampled response)": "verl's reward manager scores every one of the "
    "rollout.n responses; `reward.num_workers` sets its parallelism (`grpo.reward_num_workers`).",
    "trainer.max_steps (unset)": "`grpo.max_steps` -> `trainer.total_training_steps` (smoke runs only).",
    "trainer.save_checkpoint_path": "`trainer.default_local_dir` = runs/<run>/grpo/checkpoints.",
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

RECIPE = "qwen2_5_vl_7b"
"""The recipe whose values the tables show and the parity test checks (the paper's)."""


def paper(key: str) -> Value:
    """The paper's value for our config key `key` (raises KeyError naming the key if it has none)."""
    if key not in REFERENCE:
        raise KeyError(f"{key!r} has no reference value in GRPO/paper.py")
    return REFERENCE[key].value
