"""The ms-swift launch glue (recipes/ms_swift.py): argv values, one torchrun rule for both commands, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from GRPO.swift_command import SwiftPaths, swift_command
from recipes import ms_swift
from recipes.pipeline.compose import compose
from SFT.sft_command import SFTPaths, build_command

TORCHRUN = ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")


def test_flag_values_are_what_ms_swift_parses():
    assert ms_swift.flag_value(True) == ["true"] and ms_swift.flag_value([1, "a"]) == ["1", "a"]
    assert ms_swift.flag_value(76.0) == ["76"] and ms_swift.flag_value(0.5) == ["0.5"]
    assert ms_swift.flag_value({"b": 1, "a": 2}) == ['{"a": 2, "b": 1}']


@pytest.mark.parametrize(("overrides", "torchrun"), [
    ([], False),                                        # the tiny recipe: one CPU process, plain python
    (["cluster.device=cuda"], True),                    # one GPU: --deepspeed needs torchrun's RANK/LOCAL_RANK
    (["cluster.nproc_per_node=2"], True),               # two CPU processes (gloo)
], ids=["cpu", "one_gpu", "two_cpu_procs"])
def test_swift_sft_and_rlhf_start_torchrun_by_one_rule(overrides: list[str], torchrun: bool):
    cfg = compose("tiny", ["grpo.micro_batch_size_per_device_for_update=4", "sft.global_batch_size=8", *overrides])
    sft = build_command(cfg, SFTPaths(model="/m", dataset="/d.jsonl", output_dir="/o", system_file="/s.txt")).env
    grpo = swift_command(cfg, SwiftPaths(model="/m", train_file="/t.parquet", output_dir="/o")).env
    assert ms_swift.uses_torchrun(cfg.cluster) is torchrun
    want = ms_swift.torchrun_env(cfg.cluster)
    assert {k: sft[k] for k in TORCHRUN if k in sft} == want == {k: grpo[k] for k in TORCHRUN if k in grpo}
    assert bool(want) is torchrun


def _checkpoint(root: Path, step: int, complete: bool = True, best: str | None = None) -> Path:
    ckpt = root / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    if complete:
        state = {"global_step": step, **({"best_model_checkpoint": best} if best else {})}
        (ckpt / "trainer_state.json").write_text(json.dumps(state))
    return ckpt


def test_checkpoint_discovery_orders_by_step_and_skips_half_written(tmp_path: Path):
    assert ms_swift.last_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 2)
    ten = _checkpoint(tmp_path, 10, best="/elsewhere/checkpoint-2")  # recorded absolute, run dir since moved
    _checkpoint(tmp_path, 12, complete=False)                      # trainer_state.json is written last
    (tmp_path / "checkpoint-x").mkdir()
    assert [p.name for p in ms_swift.checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-10"]
    assert ms_swift.last_checkpoint(tmp_path) == ten and ms_swift.global_step(ten) == 10
    assert ms_swift.best_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
