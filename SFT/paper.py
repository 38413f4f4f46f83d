"""The paper's SFT values, each written once, as data (no imports from the project but GRPO/paper.py).

`REFERENCE` maps our config key to the reference script's flag (`SFT/qwen2.5vl_sft.sh`, ms-swift 3.x;
"(default)" where the script left the value to ms-swift 3.x), its typed value (shared/reference/paper.md,
"Stage 1") and how ours compares. The schema defaults (SFT/config.py, recipes/pipeline/config.py) are read
from here; SFT/flags.py maps the config to `swift sft` flags and knows nothing of the reference.
recipes/pipeline/parity_tables.py writes SFT/README.md's parity table
(`python -m recipes.pipeline.parity_tables --write`); tests/test_sft_parity.py checks it.
"""

from __future__ import annotations

from GRPO.paper import REFERENCE as GRPO_REFERENCE
from GRPO.paper import PaperValue, Value

SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
"""The paper's system prompt (reference `SFT/sys_prompt.txt`), used by SFT, GRPO and evaluation."""

REFERENCE: dict[str, PaperValue] = {
    "data.max_pixels": PaperValue("`MAX_PIXELS` (env)", GRPO_REFERENCE["data.max_pixels"].value,
                           "same; shared with GRPO's pixel ceiling (one reference value, GRPO/paper.py)"),
    "cluster.nproc_per_node": PaperValue("`NPROC_PER_NODE` (env)", 4, "8 GPUs x 1 node in the 7B recipe; the global "
                                  "batch is kept (below)"),
    "model.template": PaperValue("`--model_type`", "qwen2_5_vl", "model type is read from the checkpoint; the template "
                          "must be named for a local dir offline"),
    "model.path": PaperValue("`--model`", "Qwen/Qwen2.5-VL-7B-Instruct", "same model, fetched to a local dir before "
                      "the stage"),
    "model.torch_dtype": PaperValue("(default)", "bfloat16", "explicit; the tiny CPU recipe uses float32 and adds "
                             "`--fp16 false --bf16 false` (4.6 turns fp16 on for float32 otherwise)"),
    "sft.tuner_type": PaperValue("`--train_type`", "full", "flag renamed in 4.x"),
    "sft.freeze_aligner": PaperValue("`--freeze_aligner`", False, "same: the merger is trained"),
    "sft.freeze_vit": PaperValue("(default)", True, "same: the vision tower stays frozen"),
    "sft.freeze_llm": PaperValue("(default)", False, "same"),
    "sft.num_train_epochs": PaperValue("`--num_train_epochs`", 3.0, "same"),
    "sft.learning_rate": PaperValue("(default)", 1e-5, "made visible"),
    "sft.per_device_train_batch_size": PaperValue("(default)", 1, "made visible"),
    "sft.gradient_accumulation_steps": PaperValue("`--gradient_accumulation_steps`", 16, "null: derived from the "
                                           "global batch (8 on 8 GPUs, 16 on 4, 4 on 2x8), so it holds on any GPU "
                                           "count"),
    "sft.global_batch_size": PaperValue("(4 GPUs x 1 x 16)", 64, "first-class setting; divisibility checked"),
    "sft.weight_decay": PaperValue("(default)", 0.1, "made visible"),
    "sft.lr_scheduler_type": PaperValue("(default)", "cosine", "made visible"),
    "sft.warmup_ratio": PaperValue("(default)", 0.0, "made visible"),
    "sft.max_grad_norm": PaperValue("(default)", 1.0, "made visible"),
    "sft.seed": PaperValue("(default)", 42, "made visible"),
    "sft.max_length": PaperValue("(default: model context)", None, "same (null leaves ms-swift's default)"),
    "sft.gradient_checkpointing": PaperValue("(default)", True, "made visible (tiny recipe: false, faster)"),
    "sft.gradient_checkpointing_use_reentrant": PaperValue("`--gradient_checkpointing_kwargs` "
                                                    "`{\"use_reentrant\": false}`", False, "same, as a typed field"),
    "sft.deepspeed": PaperValue("`--deepspeed`", "zero2", "same on GPU (deepspeed comes with the `gpu` extra; the "
                         "preflight refuses a GPU run without it); dropped on CPU (said in the plan); `null` in "
                         "tiny_gpu (one GPU: nothing to shard)"),
    "sft.save_steps": PaperValue("`--save_steps`", 20, "same (+ `--save_strategy steps`)"),
    "sft.eval_steps": PaperValue("`--eval_steps`", 20, "same"),
    "sft.save_total_limit": PaperValue("`--save_total_limit`", 2, "same"),
    "sft.save_only_model": PaperValue("`--save_only_model`", True, "same; a resume from these weights-only "
                                 "checkpoints would restart the optimizer and LR schedule, so it is refused "
                                 "unless `sft.resume_weights_only=true`"),
    "sft.split_dataset_ratio": PaperValue("(default)", 0.01, "explicit: ms-swift 4.6's default is 0, which turns the "
                                   "reference's eval every 20 steps off"),
    "sft.logging_steps": PaperValue("(default)", 5, "made visible"),
    "sft.dataset_num_proc": PaperValue("(default)", 1, "made visible; raise it for the 51k-row set"),
    "sft.dataloader_num_workers": PaperValue("(default)", None, "same (null keeps ms-swift's; tiny recipe: 0)"),
    "sft.report_to": PaperValue("(default)", ("tensorboard",), "same; `[wandb]` etc. through ms-swift"),
}
"""Every reference SFT value, keyed by our config key."""

DIFFERENCES: dict[str, str] = {
    "cluster.nproc_per_node": "the 7B recipe runs on one 8-GPU node (the reference used 4 GPUs); the global "
    "batch of 64 is kept by deriving the accumulation.",
    "sft.gradient_accumulation_steps": "derived (null): 64 / (1 x 8 GPUs) = 8 on the 7B recipe's node.",
}
"""REFERENCE keys where the 7B recipe's value differs from the paper's, and why."""


def paper(key: str) -> Value:
    """The paper's value for our config key `key` (raises KeyError naming the key if it has none)."""
    if key not in REFERENCE:
        raise KeyError(f"{key!r} has no reference value in SFT/paper.py")
    return REFERENCE[key].value

