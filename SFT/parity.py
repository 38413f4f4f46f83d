"""The paper's SFT values, each written once, and SFT/README.md's parity table generated from them.

`REFERENCE` maps our config key to the reference script's flag (`SFT/qwen2.5vl_sft.sh`, ms-swift 3.x;
"(default)" where the script left the value to ms-swift 3.x) and its typed value (shared/reference/paper.md,
"Stage 1"). The schema defaults in SFT/config.py are read from here; SFT/flags.py turns the config into
`swift sft` flags and knows nothing of the reference. `python -m SFT.parity --write` regenerates the README
table; tests/test_sft_parity.py checks it and every value against the composed 7B recipe.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from GRPO.parity import RECIPE
from GRPO.parity import REFERENCE as GRPO_REFERENCE
from recipes.readme_tables import Value, readme_cli, show
from SFT import flags

README = Path(__file__).resolve().parent / "README.md"


@dataclass(frozen=True)
class Ref:
    """One reference setting: the script's flag, the paper's value, and how ours compares."""

    reference: str
    value: Value
    note: str
    flag: str = ""
    """The ms-swift 4.6 flag(s), where the key is not an `sft.*` field passed under its own name."""


REFERENCE: dict[str, Ref] = {
    "data.max_pixels": Ref("`MAX_PIXELS` (env)", GRPO_REFERENCE["data.max_pixels"].value,
                           "same; shared with GRPO's pixel ceiling (one reference value, GRPO/parity.py)",
                           "`MAX_PIXELS` (env)"),
    "cluster.nproc_per_node": Ref("`NPROC_PER_NODE` (env)", 4, "8 GPUs x 1 node in the 7B recipe; the global "
                                  "batch is kept (below)",
                                  "`NPROC_PER_NODE`, `NNODES`, `NODE_RANK`, `MASTER_ADDR`, `MASTER_PORT` (env)"),
    "model.template": Ref("`--model_type`", "qwen2_5_vl", "model type is read from the checkpoint; the template "
                          "must be named for a local dir offline", "`--template`"),
    "model.path": Ref("`--model`", "Qwen/Qwen2.5-VL-7B-Instruct", "same model, fetched to a local dir before "
                      "the stage", "`--model`"),
    "model.torch_dtype": Ref("(default)", "bfloat16", "explicit; the tiny CPU recipe uses float32 and adds "
                             "`--fp16 false --bf16 false` (4.6 turns fp16 on for float32 otherwise)", "`--torch_dtype`"),
    "sft.tuner_type": Ref("`--train_type`", "full", "flag renamed in 4.x"),
    "sft.freeze_aligner": Ref("`--freeze_aligner`", False, "same: the merger is trained"),
    "sft.freeze_vit": Ref("(default)", True, "same: the vision tower stays frozen"),
    "sft.freeze_llm": Ref("(default)", False, "same"),
    "sft.num_train_epochs": Ref("`--num_train_epochs`", 3.0, "same"),
    "sft.learning_rate": Ref("(default)", 1e-5, "made visible"),
    "sft.per_device_train_batch_size": Ref("(default)", 1, "made visible"),
    "sft.gradient_accumulation_steps": Ref("`--gradient_accumulation_steps`", 16, "null: derived from the "
                                           "global batch (8 on 8 GPUs, 16 on 4, 4 on 2x8), so it holds on any GPU "
                                           "count", "`--gradient_accumulation_steps`"),
    "sft.global_batch_size": Ref("(4 GPUs x 1 x 16)", 64, "first-class setting; divisibility checked", "(none)"),
    "sft.weight_decay": Ref("(default)", 0.1, "made visible"),
    "sft.lr_scheduler_type": Ref("(default)", "cosine", "made visible"),
    "sft.warmup_ratio": Ref("(default)", 0.0, "made visible"),
    "sft.max_grad_norm": Ref("(default)", 1.0, "made visible"),
    "sft.seed": Ref("(default)", 42, "made visible"),
    "sft.max_length": Ref("(default: model context)", None, "same (null leaves ms-swift's default)"),
    "sft.gradient_checkpointing": Ref("(default)", True, "made visible (tiny recipe: false, faster)"),
    "sft.gradient_checkpointing_use_reentrant": Ref("`--gradient_checkpointing_kwargs` "
                                                    "`{\"use_reentrant\": false}`", False, "same, as a typed field",
                                                    "`--gradient_checkpointing_kwargs`"),
    "sft.deepspeed": Ref("`--deepspeed`", "zero2", "same on GPU (deepspeed comes with the `gpu` extra; the "
                         "preflight refuses a GPU run without it); dropped on CPU (said in the plan); `null` in "
                         "tiny_gpu (one GPU: nothing to shard)", "`--deepspeed`"),
    "sft.save_steps": Ref("`--save_steps`", 20, "same (+ `--save_strategy steps`)"),
    "sft.eval_steps": Ref("`--eval_steps`", 20, "same", "`--eval_steps` (+ `--eval_strategy steps`)"),
    "sft.save_total_limit": Ref("`--save_total_limit`", 2, "same"),
    "sft.save_only_model": Ref("`--save_only_model`", True, "same; a resume from these weights-only "
                                 "checkpoints would restart the optimizer and LR schedule, so it is refused "
                                 "unless `sft.resume_weights_only=true`"),
    "sft.split_dataset_ratio": Ref("(default)", 0.01, "explicit: ms-swift 4.6's default is 0, which turns the "
                                   "reference's eval every 20 steps off"),
    "sft.logging_steps": Ref("(default)", 5, "made visible"),
    "sft.dataset_num_proc": Ref("(default)", 1, "made visible; raise it for the 51k-row set"),
    "sft.dataloader_num_workers": Ref("(default)", None, "same (null keeps ms-swift's; tiny recipe: 0)"),
    "sft.report_to": Ref("(default)", ("tensorboard",), "same; `[wandb]` etc. through ms-swift"),
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
        raise KeyError(f"{key!r} has no reference value in SFT/parity.py")
    return REFERENCE[key].value


def flag_of(key: str) -> str:
    """The `swift sft` flag our setting `key` becomes: an `sft.*` field of SFT/flags.DIRECT_FIELDS goes under
    its own name; any other key names its flag(s) in its REFERENCE row."""
    name = key.removeprefix("sft.")
    if key.startswith("sft.") and name in flags.DIRECT_FIELDS:
        return f"`--{name}`"
    if not REFERENCE[key].flag:
        raise ValueError(f"{key}: not passed under its own name, so its REFERENCE row must name its flag")
    return REFERENCE[key].flag


def composed_value(cfg: DictConfig, key: str) -> Value:
    """What recipe `cfg` gives `key` (lists as tuples, like the reference values)."""
    value = OmegaConf.select(cfg, key, throw_on_missing=True)
    return tuple(value) if OmegaConf.is_list(value) else value


def sft_markdown(cfg: DictConfig) -> str:
    """SFT/README.md's parity table: reference flag and value, our flag, our key and recipe `cfg`'s value."""
    lines = ["| reference flag (ms-swift 3.x) | reference value | ms-swift 4.6 flag | our setting = value "
             f"({cfg.run_name}) | why / difference |", "|---|---|---|---|---|"]
    for key, ref in REFERENCE.items():
        ours = show(composed_value(cfg, key))
        lines.append(f"| {ref.reference} | {show(ref.value)} | {flag_of(key)} | `{key}` = {ours} | {ref.note} |")
    return "\n".join(lines)


def readme_sections(cfg: DictConfig) -> dict[str, str]:
    """SFT/README.md's generated sections, by marker name."""
    return {"sft": sft_markdown(cfg)}


def main(argv: list[str] | None = None) -> int:
    """`python -m SFT.parity [--markdown | --write]`: print the tables, or write them into SFT/README.md."""
    from recipes.pipeline.compose import compose

    return readme_cli(README, lambda: readme_sections(compose(RECIPE)), argv)


if __name__ == "__main__":
    sys.exit(main())
