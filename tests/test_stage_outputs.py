"""Typed contracts: each stage's outputs type (recipes/stage_outputs.py) is the one its `run` returns, the one
`ctx.outputs(name)` gives later stages, and covers what its plan promises; the Results of an evaluation
(evaluation/results.py) round-trip through results.json unchanged."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from evaluation.results import Results, ResultsError, load, save
from recipes.pipeline.compose import compose
from recipes.pipeline.publish import produced
from recipes.pipeline.runner import Runner
from recipes.pipeline.stages import load_stage
from recipes.stage import STAGES, StageContext, StageError
from recipes.stage_outputs import (
    STAGE_OUTPUTS,
    GrpoOutputs,
    MergeOutputs,
    RlDataOutputs,
    done_outputs,
    grpo_model,
)


def _keys(shape: type) -> set[str]:
    return set(typing.get_type_hints(shape))


def test_every_stage_has_one_outputs_type_and_its_run_returns_it():
    assert set(STAGE_OUTPUTS) == set(STAGES)
    for name in STAGES:
        stage = load_stage(name)
        assert typing.get_type_hints(type(stage).run)["return"] is STAGE_OUTPUTS[name], name


def test_ctx_outputs_is_typed_by_the_stage_name():
    """One overload per stage: `ctx.outputs("sft")` is SftOutputs, and so on for every stage."""
    by_name = {}
    for overload in typing.get_overloads(StageContext.outputs):
        hints = typing.get_type_hints(overload)
        (name,) = typing.get_args(hints["stage"])
        by_name[name] = hints["return"]
    assert by_name == STAGE_OUTPUTS


def _ctx(tmp_path: Path, dry_run: bool) -> StageContext:
    recorded = {"rl_data": RlDataOutputs(train="/r/train.parquet", val="/r/val.parquet", rows_train=12, rows_val=4,
                                         rejected=0)}
    return StageContext(OmegaConf.create({}), tmp_path, "grpo", recorded, {}, dry_run=dry_run)  # type: ignore[arg-type]


def test_recorded_outputs_keep_their_types_and_a_missing_one_names_the_stage(tmp_path: Path):
    ctx = _ctx(tmp_path, dry_run=False)
    data = ctx.outputs("rl_data")
    assert data["rows_train"] == 12 and data["train"] == "/r/train.parquet"  # the number, not its text
    assert "rejects" not in data and ctx.output_of("rl_data", "rows_train") == "12"
    with pytest.raises(StageError, match=r"stage 'grpo' needs output 'checkpoint' of stage 'sft', which has not run"):
        ctx.outputs("sft")["checkpoint"]
    assert "checkpoint" not in ctx.outputs("sft")
    planning = _ctx(tmp_path, dry_run=True)
    assert planning.outputs("sft")["checkpoint"] == "<sft.checkpoint>"
    assert planning.output_of("merge", "model") == "<merge.model>"


def test_each_plan_promises_only_keys_of_its_outputs_type(tiny_world, tmp_path: Path):
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[sft_data,sft,rl_data,grpo,merge,eval]", "dry_run=true"])
    planned = Runner(cfg, echo=lambda *_: None).run()
    assert [r.name for r in planned] == ["sft_data", "sft", "rl_data", "grpo", "merge", "eval"]
    for r in planned:
        assert set(r.outputs) <= _keys(STAGE_OUTPUTS[r.name]), (r.name, set(r.outputs) - _keys(STAGE_OUTPUTS[r.name]))


def test_the_run_model_is_grpos_checkpoint_only_when_it_is_a_hugging_face_model(tmp_path: Path):
    swift = GrpoOutputs(checkpoint="/g/checkpoint-4", format="hf", step=4)
    verl = GrpoOutputs(checkpoint="/g/global_step_4/actor", format="verl_fsdp", step=4)
    assert (grpo_model(swift), grpo_model(verl)) == ("/g/checkpoint-4", None)

    def manifest(**stages: object) -> dict:
        return {"stages": {n: {"status": "done", "outputs": o} for n, o in stages.items()}}

    sft = {"checkpoint": "/s/checkpoint-2"}
    assert produced(tmp_path, manifest(sft=sft, grpo=swift))["model"] == "/g/checkpoint-4"
    assert produced(tmp_path, manifest(sft=sft, grpo=verl))["model"] == "/s/checkpoint-2"
    merged = MergeOutputs(model="/m/model", checkpoint=verl["checkpoint"])
    assert produced(tmp_path, manifest(sft=sft, grpo=verl, merge=merged))["model"] == "/m/model"
    running = manifest(merge=merged)
    running["stages"]["merge"]["status"] = "running"
    assert done_outputs(running) == {}


def _results() -> Results:
    cell = {"n": 2, "correct": 1, "accuracy": 50.0}
    return typing.cast(Results, {
        "scorer": "rule", "benchmarks": {"mathvista": {"title": "MathVista", **cell, "breakdown": {}, "reasons": {}}},
        "average": 50.0, "average_over": ["mathvista"], "n": 2, "loading": {}, "skipped": [],
        "model": "tiny:model", "settings": None, "preset": "tiny"})


def test_results_save_and_load_keep_the_file_format(tmp_path: Path):
    path = tmp_path / "results.json"
    save(path, _results())
    assert path.read_text() == json.dumps(_results(), indent=2) + "\n"
    assert load(path) == _results()


def test_a_file_that_is_not_results_is_refused_with_its_name(tmp_path: Path):
    bad = tmp_path / "results.json"
    bad.write_text('{"stages": {}}')
    with pytest.raises(ResultsError, match=r"results.json: not an evaluation's results.json \(no scorer, benchmarks, "
                                           r"average\)"):
        load(bad)
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match=r"results.json: unreadable results file"):
        load(bad)
