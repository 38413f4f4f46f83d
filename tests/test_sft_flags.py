"""The SFT flag map (config -> `swift sft` argv + env), its dry run, and the checks before training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from recipes.pipeline.compose import compose
from recipes.pipeline.config import SYSTEM_PROMPT
from recipes.pipeline.runner import Runner
from recipes.stage import Stage, StageContext, StagePlan
from SFT.checks import SFTInputError, check_dataset, check_model_dir
from SFT.flags import SFTConfigError
from SFT.sft_command import SFTPaths, build_command
from SFT.train_stage import STAGE

ROOT = Path(__file__).resolve().parents[1]
PATHS = SFTPaths(model="/m", dataset="/d/train.jsonl", output_dir="/o", system_file="/o/system.txt")


def _argv(cmd) -> dict[str, list[str]]:
    """`--flag v1 v2` -> {flag: [v1, v2]} (asserting no flag is given twice)."""
    out: dict[str, list[str]] = {}
    key = None
    for item in cmd.argv[2:]:
        if item.startswith("--"):
            key = item[2:]
            assert key not in out, f"--{key} given twice"
            out[key] = []
        else:
            out[key].append(item)
    return out


@pytest.mark.parametrize(
    ("overrides", "accum", "env"),
    [
        ([], 8, {"NPROC_PER_NODE": "8", "NNODES": "1"}),
        (["cluster.nproc_per_node=4"], 16, {"NPROC_PER_NODE": "4", "NNODES": "1"}),
        (["cluster.nnodes=2", "cluster.node_rank=1", "cluster.master_addr=10.0.0.1"], 4,
         {"NPROC_PER_NODE": "8", "NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"}),
    ],
    ids=["1x8", "1x4_reference", "2x8"],
)
def test_7b_recipe_keeps_global_batch_64(overrides: list[str], accum: int, env: dict[str, str]) -> None:
    cfg = compose("qwen2_5_vl_7b", overrides)
    cmd = build_command(cfg, PATHS)
    a = _argv(cmd)
    per_device, nproc, nnodes = 1, int(env["NPROC_PER_NODE"]), int(env["NNODES"])
    assert a["gradient_accumulation_steps"] == [str(accum)]
    assert per_device * nproc * nnodes * accum == 64
    assert {k: cmd.env[k] for k in env} == env
    assert cmd.env["MAX_PIXELS"] == "1204224"
    # every value of the reference script, and the ms-swift 3.x defaults it relied on
    expected = {
        "model": ["/m"], "template": ["qwen2_5_vl"], "tuner_type": ["full"], "freeze_aligner": ["false"],
        "freeze_vit": ["true"], "freeze_llm": ["false"], "num_train_epochs": ["3"], "learning_rate": ["1e-05"],
        "per_device_train_batch_size": ["1"], "weight_decay": ["0.1"], "lr_scheduler_type": ["cosine"],
        "save_total_limit": ["2"], "eval_steps": ["20"], "save_steps": ["20"], "save_only_model": ["true"],
        "deepspeed": ["zero2"], "gradient_checkpointing": ["true"], "split_dataset_ratio": ["0.01"],
        "gradient_checkpointing_kwargs": ['{"use_reentrant": false}'], "system": ["/o/system.txt"],
        "torch_dtype": ["bfloat16"], "dataset": ["/d/train.jsonl"], "output_dir": ["/o"],
        "add_version": ["false"], "check_model": ["false"], "report_to": ["tensorboard"],
        "eval_strategy": ["steps"], "save_strategy": ["steps"],
    }
    assert {k: a.get(k) for k in expected} == expected
    assert "fp16" not in a and "resume_from_checkpoint" not in a


def test_tiny_recipe_on_cpu_drops_deepspeed_and_torchrun() -> None:
    cmd = build_command(compose("tiny"), PATHS)
    a = _argv(cmd)
    assert "deepspeed" not in a
    assert a["fp16"] == ["false"] and a["bf16"] == ["false"] and a["torch_dtype"] == ["float32"]
    assert "NPROC_PER_NODE" not in cmd.env and "NNODES" not in cmd.env
    assert cmd.env["CUDA_VISIBLE_DEVICES"] == ""


def test_resume_uses_ms_swift_resume_only_model_for_weight_only_checkpoints() -> None:
    cfg = compose("tiny")
    weights_only = dataclasses.replace(PATHS, resume_from="/o/checkpoint-40", resume_weights_only=True)
    a = _argv(build_command(cfg, weights_only))
    assert a["resume_from_checkpoint"] == ["/o/checkpoint-40"] and a["resume_only_model"] == ["true"]
    b = _argv(build_command(cfg, dataclasses.replace(PATHS, resume_from="/o/checkpoint-40")))
    assert b["resume_from_checkpoint"] == ["/o/checkpoint-40"] and "resume_only_model" not in b
    assert b["model"] == ["/o/checkpoint-40"]  # weights through from_pretrained, the rest through the trainer


def test_weights_only_resume_is_refused_unless_accepted(tmp_path) -> None:
    """Resuming from a `save_only_model` checkpoint would restart the LR schedule: refused, naming it."""
    from recipes.stage import StageContext, StageError
    from SFT.train_stage import STAGE

    ckpt = tmp_path / "tiny" / "sft" / "output" / "checkpoint-20"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    (ckpt / "trainer_state.json").write_text('{"global_step": 20}')
    data = tmp_path / "train.jsonl"
    data.write_text("")
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "sft.save_only_model=true"])
    ctx = StageContext(cfg, tmp_path / "tiny", "sft", {"sft_data": {"train": str(data)}}, {}, dry_run=False)
    assert STAGE._paths(ctx).resume_weights_only
    with pytest.raises(StageError, match=r"checkpoint-20 holds weights only .*sft\.resume_weights_only=true"):
        STAGE.run(ctx)
    (ckpt / "scheduler.pt").write_bytes(b"")  # a full checkpoint: resumed exactly, nothing to accept
    assert not STAGE._paths(ctx).resume_weights_only


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["cluster.nproc_per_node=3"], "not divisible by .* = 3"),
        (["sft.gradient_accumulation_steps=4"], "global batch of 32"),
        (["sft.checkpoint=middle"], "'last' or 'best'"),
        (["+sft.extra_args.max_pixels=100"], "set by data.max_pixels"),
        (["+sft.extra_args.learning_rate=1e-4"], "set sft.learning_rate instead"),
    ],
)
def test_inconsistent_settings_fail_before_training(overrides: list[str], match: str) -> None:
    with pytest.raises(SFTConfigError, match=match):
        build_command(compose("qwen2_5_vl_7b", overrides), PATHS)


def test_unknown_ms_swift_flag_in_override_is_refused() -> None:
    cfg = compose("tiny", ["+sft.extra_args.learning_rat=1e-4"])
    with pytest.raises(SFTConfigError, match="'learning_rat' is not a `swift sft` flag"):
        build_command(cfg, PATHS)
    ok = _argv(build_command(compose("tiny", ["+sft.extra_args.max_steps=3"]), PATHS))
    assert ok["max_steps"] == ["3"]


def test_sft_seed_sets_ms_swift_data_order_too() -> None:
    """ms-swift shuffles with `data_seed` (default 42), not `seed`: without it two SFT seeds trained alike."""
    a = _argv(build_command(compose("tiny", ["sft.seed=7"]), PATHS))
    assert (a["seed"], a["data_seed"]) == (["7"], ["7"])
    with pytest.raises(SFTConfigError, match=r"'data_seed' is set by sft\.seed"):
        build_command(compose("tiny", ["+sft.extra_args.data_seed=3"]), PATHS)


class _Prebuilt(Stage):
    name = "sft_data"

    def plan(self, ctx: StageContext) -> StagePlan:
        return StagePlan()

    def run(self, ctx: StageContext) -> dict:
        return {}


def test_dry_run_prints_exact_command_and_environment(tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "stages=[sft]", "dry_run=true", "cluster.nnodes=2"])
    Runner(cfg, echo=lines.append, stages={}).run()
    text = "\n".join(lines)
    cmd = next(line for line in lines if "swift sft" in line or " sft --model" in line)
    assert "NPROC_PER_NODE=8 NNODES=2 NODE_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500" in cmd
    assert "MAX_PIXELS=1204224" in cmd and "--dataset '<sft_data.train>'" in cmd
    assert "--gradient_accumulation_steps 4 " in cmd and "--deepspeed zero2" in cmd
    assert "global batch 64 = 1 per device x 8 processes per node x 2 node(s) x 4" in text
    assert "model    Qwen/Qwen2.5-VL-7B-Instruct" in text
    assert not (tmp_path / "qwen2_5_vl_7b").exists()  # nothing written


# -- bad input: each a clear error before training starts ------------------------------------------

def _row(images: list[str], tags: int = 1) -> str:
    return json.dumps({"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                                    {"role": "user", "content": "<image>" * tags + "What is x?"},
                                    {"role": "assistant", "content": "x = 1. \\boxed{1}"}], "images": images})


def test_dataset_checks(tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    from PIL import Image

    Image.new("RGB", (28, 28)).save(img)
    good = tmp_path / "good.jsonl"
    good.write_text(_row([str(img)]) + "\n\n" + _row([str(img)]) + "\n")
    assert check_dataset(good) == 2
    with pytest.raises(SFTInputError, match=r"does not exist .*sft_data"):
        check_dataset(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(SFTInputError, match="empty"):
        check_dataset(tmp_path / "empty.jsonl")
    (tmp_path / "noimg.jsonl").write_text(_row([str(img)]) + "\n" + _row([str(tmp_path / "gone.jpg")]) + "\n")
    with pytest.raises(SFTInputError, match=r"noimg.jsonl, line 2: image .*gone.jpg does not exist"):
        check_dataset(tmp_path / "noimg.jsonl")
    (tmp_path / "tags.jsonl").write_text(_row([str(img)], tags=2) + "\n")
    with pytest.raises(SFTInputError, match="line 1: 2 <image> tag"):
        check_dataset(tmp_path / "tags.jsonl")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(SFTInputError, match="line 1: not valid JSON"):
        check_dataset(tmp_path / "bad.jsonl")


def test_model_without_processor_is_refused(tmp_path: Path, tiny_world) -> None:
    check_model_dir(tiny_world.model)
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (bare / f).write_bytes((tiny_world.model / f).read_bytes())
    with pytest.raises(SFTInputError, match=r"missing .*image processor"):
        check_model_dir(bare)
    with pytest.raises(SFTInputError, match="not a directory"):
        check_model_dir(tmp_path / "nowhere")


def test_stage_refuses_bad_input_before_launching_swift(tmp_path: Path, tiny_world) -> None:
    empty = tmp_path / "train.jsonl"
    empty.write_text("")

    class Data(_Prebuilt):
        def run(self, ctx: StageContext) -> dict:
            return {"train": str(empty)}

    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[sft_data,sft]"])
    with pytest.raises(SFTInputError, match="empty"):
        Runner(cfg, echo=lambda *_: None, stages={"sft_data": Data(), "sft": STAGE}).run()
    assert not (tmp_path / "tiny" / "sft" / "log.txt").exists()  # swift never started
