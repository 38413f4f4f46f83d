"""The paper's GRPO values, each written once, and the parity tables generated from them.

`REFERENCE` maps our config key (or, for a setting we derive, a parenthesised name) to the reference key
in EasyR1's config (the paper's stage-2 code) and its typed value (shared/reference/paper.md, "Stage 2").
The schema defaults in GRPO/config.py are read from here; the conversions live in the two backend maps,
GRPO/verl_overrides.py (verl Hydra keys) and GRPO/swift_flags.py (ms-swift flags), which know nothing of
the reference. This module joins the three into GRPO/README.md's tables:
`python -m GRPO.parity --write` regenerates them, tests/test_grpo_parity.py checks them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from GRPO import swift_flags, verl_overrides
from recipes.readme_tables import Value, readme_cli, show

README = Path(__file__).resolve().parent / "README.md"
PROJECT = README.parent.parent


@dataclass(frozen=True)
class Ref:
    """One reference setting: EasyR1's key and the paper's value."""

    reference: str
    value: Value


REFERENCE: dict[str, Ref] = {
    # -- data -------------------------------------------------------------------------------------
    "data.max_prompt_length": Ref("data.max_prompt_length", 2048),
    "data.max_pixels": Ref("data.max_pixels", 1204224),
    "data.min_pixels": Ref("data.min_pixels", 262144),
    "grpo.max_response_length": Ref("data.max_response_length", 2048),
    "grpo.rollout_batch_size": Ref("data.rollout_batch_size", 512),
    "grpo.seed": Ref("data.seed / worker.rollout.seed", 1),
    "(image column)": Ref("data.image_key", "images"),
    # -- algorithm --------------------------------------------------------------------------------
    "grpo.adv_estimator": Ref("algorithm.adv_estimator", "grpo"),
    "grpo.use_kl_loss": Ref("algorithm.use_kl_loss", True),
    "grpo.kl_loss_type": Ref("algorithm.kl_penalty", "low_var_kl"),
    "grpo.kl_coef": Ref("algorithm.kl_coef", 1e-2),
    "grpo.clip_ratio_low": Ref("worker.actor.clip_ratio_low", 0.2),
    "grpo.clip_ratio_high": Ref("worker.actor.clip_ratio_high", 0.3),
    "grpo.clip_ratio_c": Ref("worker.actor.clip_ratio_dual", 3.0),
    "(policy loss aggregation)": Ref("(EasyR1 actor loss)", "token mean per micro-batch"),
    # -- actor / optimizer ------------------------------------------------------------------------
    "grpo.global_batch_size": Ref("worker.actor.global_batch_size", 128),
    "grpo.micro_batch_size_per_device_for_update": Ref("worker.actor.micro_batch_size_per_device_for_update", 4),
    "grpo.micro_batch_size_per_device_for_experience": Ref(
        "worker.actor.micro_batch_size_per_device_for_experience", 8),
    "grpo.max_grad_norm": Ref("worker.actor.max_grad_norm", 1.0),
    "grpo.padding_free": Ref("worker.actor.padding_free", True),
    "grpo.attn_implementation": Ref("(padding_free attention: flash-attn 2)", "flash_attention_2"),
    "grpo.gradient_checkpointing": Ref("worker.actor.model.enable_gradient_checkpointing", True),
    "grpo.freeze_vision_tower": Ref("worker.actor.model.freeze_vision_tower", False),
    "(actor model)": Ref("worker.actor.model.model_path", "<SFT checkpoint>"),
    "grpo.optimizer": Ref("worker.actor.optim.strategy", "adamw"),
    "grpo.learning_rate": Ref("worker.actor.optim.lr", 1e-6),
    "grpo.weight_decay": Ref("worker.actor.optim.weight_decay", 1e-2),
    "grpo.warmup_ratio": Ref("worker.actor.optim.lr_warmup_ratio", 0.0),
    "(lr schedule)": Ref("(EasyR1 lr scheduler)", "constant"),
    "grpo.param_offload": Ref("worker.actor.offload.offload_params", True),
    "grpo.optimizer_offload": Ref("worker.actor.offload.offload_optimizer", True),
    "grpo.ref_param_offload": Ref("worker.ref.fsdp.enable_cpu_offload", True),
    # -- rollout ----------------------------------------------------------------------------------
    "grpo.rollout_engine": Ref("worker.rollout.name", "vllm"),
    "grpo.rollout_n": Ref("worker.rollout.n", 10),
    "grpo.temperature": Ref("worker.rollout.temperature", 0.7),
    "grpo.top_p": Ref("worker.rollout.top_p", 0.99),
    "(top_k)": Ref("worker.rollout.top_k", -1),
    "(repetition penalty)": Ref("(EasyR1 sampling: no repetition penalty)", 1.0),
    "grpo.gpu_memory_utilization": Ref("worker.rollout.gpu_memory_utilization", 0.6),
    "grpo.tensor_parallel_size": Ref("worker.rollout.tensor_parallel_size", 2),
    "grpo.max_num_seqs": Ref("worker.rollout.max_num_seqs", 1024),
    "grpo.enforce_eager": Ref("worker.rollout.enforce_eager", False),
    "(vLLM max_model_len)": Ref("(vLLM max_model_len = prompt + response)", 4096),
    "grpo.val_temperature": Ref("worker.rollout.val_override_config.temperature", 0.5),
    "grpo.val_n": Ref("worker.rollout.val_override_config.n", 1),
    "(val sampling)": Ref("(val sampling: temperature > 0)", True),
    # -- reward -----------------------------------------------------------------------------------
    "(reward function)": Ref("worker.reward.score_function", "math.py:compute_score"),
    "grpo.format_weight": Ref("(math.py format weight)", 0.0),
    # -- trainer ----------------------------------------------------------------------------------
    "grpo.total_epochs": Ref("trainer.total_episodes", 2),
    "grpo.max_steps": Ref("trainer.max_steps", None),
    "grpo.save_freq": Ref("trainer.save_freq", 5),
    "grpo.save_limit": Ref("trainer.save_limit", 7),
    "grpo.val_freq": Ref("trainer.val_freq", -1),
    "grpo.val_after_train": Ref("(EasyR1 validates after the last step)", True),
    "grpo.val_before_train": Ref("trainer.val_before_train", False),
    "grpo.loggers": Ref("trainer.logger", ("console", "wandb")),
    "cluster.nproc_per_node": Ref("trainer.n_gpus_per_node", 8),
    "cluster.nnodes": Ref("trainer.nnodes", 1),
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
    "data.prompt_key problem / data.answer_key answer": "GRPO/convert.py writes verl's schema: `prompt` "
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
        raise KeyError(f"{key!r} has no reference value in GRPO/parity.py")
    return REFERENCE[key].value


def paper_value(key: str) -> str:
    """The paper's value for `key` as the tables show it, `—` when the reference has none."""
    return show(REFERENCE[key].value) if key in REFERENCE else "—"


def composed_value(cfg: DictConfig, key: str) -> Value:
    """What recipe `cfg` gives the setting `key`: the config value, or the backend maps' value for a
    parenthesised setting (verl's, the paper's backend; else ms-swift's, composed with grpo.backend=swift)."""
    if not key.startswith("("):
        value = OmegaConf.select(cfg, key, throw_on_missing=True)
        return tuple(value) if OmegaConf.is_list(value) else value
    for row in verl_overrides.PARITY:
        if row.key == key:
            return row.value(cfg)
    swift_cfg = OmegaConf.merge(cfg, {"grpo": {"backend": "swift"}})
    for srow in swift_flags.PARITY:
        if srow.key == key and srow.value is not None:
            return srow.value(swift_cfg)
    raise KeyError(f"{key!r}: no verl or ms-swift row carries this setting")


def verl_markdown(cfg: DictConfig) -> str:
    """The verl parity table: every verl row with the paper's value and recipe `cfg`'s."""
    lines = [f"| reference key (EasyR1) | reference value | verl 0.9.1 key | our value ({cfg.run_name}) | "
             "our config |", "|---|---|---|---|---|"]
    for row in verl_overrides.PARITY:
        ref = REFERENCE[row.key]
        ours = _cell(row.value(cfg))
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| `{ref.reference}` | {show(ref.value)} | `{row.verl_key}` | {ours} | `{row.key}`{note} |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A composed value as a table cell, with this checkout's path written `<project>`."""
    if OmegaConf.is_list(value):
        value = tuple(str(v) for v in value)
    return show(value).replace(str(PROJECT), "<project>")


def _table(rows: dict[str, str], head: str) -> str:
    return "\n".join([f"| {head} |", "|---|---|"] + [f"| `{k}` | {v} |" for k, v in rows.items()])


def swift_markdown() -> str:
    """The side-by-side table (both backends) for every ms-swift row."""
    lines = ["| setting | paper | verl key | ms-swift flag | note |", "|---|---|---|---|---|"]
    for r in swift_flags.PARITY:
        flag = f"`{r.flag}`" if r.flag else "— (warned)" if r.warn else "— (refused unless paper value)"
        lines.append(f"| `{r.key}` | {paper_value(r.key)} | `{r.verl}` | {flag} | {r.note} |")
    return "\n".join(lines)


def readme_sections(cfg: DictConfig) -> dict[str, str]:
    """GRPO/README.md's generated sections, by marker name."""
    return {
        "verl": verl_markdown(cfg),
        "differences": _table(DIFFERENCES, "setting | how the recipe differs from the paper"),
        "no-counterpart": _table(NO_COUNTERPART, "reference key | what we do"),
        "swift": swift_markdown(),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m GRPO.parity [--markdown | --write]`: print the tables, or write them into GRPO/README.md."""
    from recipes.pipeline.compose import compose

    return readme_cli(README, lambda: readme_sections(compose(RECIPE)), argv)


if __name__ == "__main__":
    sys.exit(main())
