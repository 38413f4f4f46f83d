"""The ms-swift GRPO flag map: the 7B command against the parity table, refusals, warnings."""

from __future__ import annotations

import dataclasses

import pytest

from GRPO.config import GRPOConfig
from GRPO.swift_command import SwiftPaths, swift_command
from GRPO.swift_flags import ALL_TOKENS_TOP_K, SWIFT_RLHF_FLAGS, SwiftConfigError, warnings
from recipes.config_map import SKIP
from recipes.ms_swift import flag_value
from recipes.pipeline.compose import compose
from recipes.pipeline.parity_tables import swift_markdown

PATHS = SwiftPaths(model="/m/sft", train_file="/d/train.parquet", output_dir="/o/ckpt", val_file="/d/val.parquet")


def _flags(argv: list[str]) -> dict[str, list[str]]:
    """`--name v1 v2 --other v` -> {name: [v1, v2], other: [v]}."""
    out: dict[str, list[str]] = {}
    name = None
    for item in argv[2:]:
        if item.startswith("--"):
            name = item[2:]
            assert name not in out, f"flag --{name} given twice"
            out[name] = []
        else:
            assert name is not None, f"value {item!r} before any flag"
            out[name].append(item)
    return out


@pytest.fixture(scope="module")
def cfg7b():
    return compose("qwen2_5_vl_7b", ["grpo.backend=swift"])


def test_7b_command_matches_parity_table(cfg7b):
    cmd = swift_command(cfg7b, PATHS)
    assert cmd.argv[1:2] == ["rlhf"]
    flags = _flags(cmd.argv)
    checked = 0
    for row in SWIFT_RLHF_FLAGS:
        if row.target is None or row.value is None:
            continue
        value = row.value(cfg7b)
        if row.target.endswith("(env)"):
            assert cmd.env[row.target.split()[0]] == str(value), row
        elif value is SKIP:
            assert row.target not in flags, row
        else:
            assert flags[row.target] == flag_value(value), row
        checked += 1
    assert checked >= 40
    # What the map computes rather than copies (the copied values are each row's value above, and those are
    # the paper's by tests/test_grpo_parity.py): the 7B recipe's batch arithmetic, engine, loss and reward.
    expect = {
        "rlhf_type": ["grpo"], "top_k": ["-1"], "kl_in_reward": ["false"], "loss_type": ["dapo"],
        "generation_batch_size": ["5120"],  # 512 prompts x 10
        "gradient_accumulation_steps": ["40"],  # 128 x 10 / (4 x 8)
        "use_vllm": ["true"], "vllm_mode": ["colocate"], "freeze_vit": ["false"], "freeze_aligner": ["false"],
        "advantage_estimator": ["grpo"], "scale_rewards": ["group"], "lr_scheduler_type": ["constant"],
        "reward_funcs": ["rlcs_accuracy"], "bf16": ["true"], "max_length": ["2048"],
        "model": ["/m/sft"], "dataset": ["/d/train.parquet"], "eval_strategy": ["no"],
        "columns": ['{"prompt": "messages"}'], "report_to": ["wandb"],
    }
    assert {k: flags[k] for k in expect} == expect
    assert "reward_weights" not in flags  # format weight 0: accuracy only
    assert "val_dataset" not in flags  # the reference validates only after training, which ms-swift cannot
    assert cmd.env["MAX_PIXELS"] == "1204224" and cmd.env["MIN_PIXELS"] == "262144"
    assert cmd.env["NPROC_PER_NODE"] == "8"
    assert flags["external_plugins"][0].endswith("reward_fns/swift_orm.py")


def test_every_grpo_setting_is_in_the_parity_table():
    """No GRPOConfig field is silently dropped by the swift backend: each has a row (flag, warning or refusal)."""
    keys = [row.key for row in SWIFT_RLHF_FLAGS]
    fields = {f"grpo.{f.name}" for f in dataclasses.fields(GRPOConfig)} - {"grpo.backend", "grpo.extra_overrides"}
    assert sorted(fields - set(keys)) == []
    # the README holds this table (tests/test_grpo_parity.py): one line per row, its setting in the first column
    table = swift_markdown().splitlines()[2:]
    assert [line.split(" | ")[0] for line in table] == [f"| `{k}`" for k in keys]


def test_7b_warnings_name_what_swift_does_not_honour(cfg7b):
    assert warnings(cfg7b) == [
        "grpo.clip_ratio_c=3.0 (dual clip) is not honoured: ms-swift has no dual clip for negative advantages",
        "grpo.micro_batch_size_per_device_for_experience=8 is not honoured: ms-swift uses the update micro batch "
        "(4) for log-prob forwards",
        "grpo.ref_param_offload is not honoured: ms-swift keeps the reference model on the GPU",
        "grpo.reward_num_workers=8 is not honoured: ms-swift scores in the trainer process",
        "grpo.val_after_train=true is not honoured: ms-swift validates only every grpo.val_freq steps (set one > 0)",
        "8 processes without grpo.extra_overrides.deepspeed: each GPU holds a full actor, reference and optimizer "
        "(verl shards them with FSDP); set `deepspeed: zero3` for 7B",
    ]


def test_cpu_generation_keeps_every_token_and_warns():
    cfg = compose("tiny", [])
    flags = _flags(swift_command(cfg, PATHS).argv)
    assert flags["use_vllm"] == ["false"] and "vllm_mode" not in flags
    assert flags["top_k"] == [str(ALL_TOKENS_TOP_K)]  # not the model's generation_config top_k=1
    assert flags["padding_free"] == ["false"] and "attn_impl" not in flags
    assert flags["torch_dtype"] == ["float32"] and flags["fp16"] == ["false"] and flags["bf16"] == ["false"]
    dual_clip = "grpo.clip_ratio_c=3.0 (dual clip) is not honoured: ms-swift has no dual clip for negative advantages"
    assert warnings(cfg) == [dual_clip]  # the tiny recipe asks for transformers: no rollout_engine warning
    vllm_on_cpu = compose("tiny", ["grpo.rollout_engine=vllm"])
    assert _flags(swift_command(vllm_on_cpu, PATHS).argv)["use_vllm"] == ["false"]
    assert warnings(vllm_on_cpu) == [
        "grpo.rollout_engine=vllm needs a GPU: rollouts use transformers generation on this CPU", dual_clip]


@pytest.mark.parametrize("overrides, message", [
    (["grpo.kl_loss_type=kl"], "k3"),
    (["grpo.adv_estimator=gae"], "adv_estimator"),
    (["grpo.global_batch_size=100", "grpo.rollout_batch_size=300", "grpo.rollout_n=3"], "not divisible"),
    (["grpo.rollout_batch_size=500"], "multiple of grpo.global_batch_size"),
    (["grpo.rollout_engine=sglang"], "rollout_engine"),
    (["grpo.optimizer=sgd"], "optimizer"),
    (["grpo.loggers=[console,clearml]"], "clearml"),  # verl-only; mlflow goes to transformers
    (["+grpo.extra_overrides.model=/other"], "set by the swift backend"),
    (["+grpo.extra_overrides.not_a_flag=1"], "not `swift rlhf` flags"),
])
def test_settings_swift_cannot_honour_are_refused(overrides, message):
    cfg = compose("qwen2_5_vl_7b", ["grpo.backend=swift", *overrides])
    with pytest.raises(SwiftConfigError, match=message):
        swift_command(cfg, PATHS)


def test_format_weight_becomes_two_weighted_rewards():
    cfg = compose("qwen2_5_vl_7b", ["grpo.backend=swift", "grpo.format_weight=0.25"])
    flags = _flags(swift_command(cfg, PATHS).argv)
    assert flags["reward_funcs"] == ["rlcs_accuracy", "rlcs_format"]
    assert flags["reward_weights"] == ["0.75", "0.25"]


def test_no_kl_loss_means_beta_zero():
    cfg = compose("qwen2_5_vl_7b", ["grpo.backend=swift", "grpo.use_kl_loss=false"])
    assert _flags(swift_command(cfg, PATHS).argv)["beta"] == ["0.0"]


def test_validation_needs_the_val_parquet():
    cfg = compose("qwen2_5_vl_7b", ["grpo.backend=swift", "grpo.val_freq=5"])
    with pytest.raises(SwiftConfigError, match="validation parquet"):
        swift_command(cfg, dataclasses.replace(PATHS, val_file=None))
    cfg = compose("qwen2_5_vl_7b", ["grpo.backend=swift", "grpo.val_freq=-1"])
    flags = _flags(swift_command(cfg, dataclasses.replace(PATHS, val_file=None)).argv)
    assert flags["eval_strategy"] == ["no"] and "val_dataset" not in flags and flags["eval_on_start"] == ["false"]


def test_resume_loads_the_checkpoint_weights_and_keeps_the_start_model_as_kl_reference(cfg7b):
    """A full resume: weights through --model (the trainer's own load misses them under transformers 5's key
    names), the rest through --resume_from_checkpoint; the KL reference stays the model GRPO started from."""
    import dataclasses

    f = _flags(swift_command(cfg7b, dataclasses.replace(PATHS, resume_from="/o/ckpt/checkpoint-10")).argv)
    assert f["resume_from_checkpoint"] == f["model"] == ["/o/ckpt/checkpoint-10"]
    assert f["ref_model"] == ["/m/sft"]
    assert "ref_model" not in _flags(swift_command(cfg7b, PATHS).argv)
