"""compare: run dirs and models side by side, reusing a run's predictions where the settings match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.compare import CompareError, compare, parse_input
from evaluation.run import hub_resolver
from recipes.pipeline.compose import compose
from recipes.pipeline.runner import Runner

pytestmark = pytest.mark.slow  # every test evaluates the tiny model (the module fixture: ~15 s loaded)

SLICE = ["benchmarks=[heldin]", "limit=2", "max_new_tokens=8"]


@pytest.fixture(scope="module")
def base_run(tiny_world, tmp_path_factory) -> Path:
    """`ablation=base` of the tiny recipe on a 2-item held-in slice, run through the pipeline."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = compose("tiny", [f"runs_dir={runs}", "ablation=base", *(f"eval.{o}" for o in SLICE)])
    Runner(cfg, echo=lambda *_: None).run()
    return runs / "tiny_base"


def test_compare_reuses_matching_predictions_and_writes_one_table(base_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    summary = compare([str(base_run), "again=tiny:model"], out, preset="tiny", overrides=SLICE,
                      resolve=hub_resolver(offline=True))
    first, second = summary["models"]
    assert first["label"] == "tiny_base" and first["model"] == "tiny:model" and first["reused_predictions"] == 2
    assert second["label"] == "again" and second["reused_predictions"] == 0
    gen = json.loads((out / "evals" / "tiny_base" / "results.json").read_text())["generation"]
    assert gen["generated"] == 0 and gen["skipped"] == 2  # nothing generated for the finished run
    assert json.loads((out / "evals" / "again" / "results.json").read_text())["generation"]["generated"] == 2
    # the same greedy model on the same items: the same accuracy, a zero delta
    assert first["accuracy"]["heldin"] == second["accuracy"]["heldin"]
    md = (out / "compare.md").read_text()
    assert "eval preset `tiny`" in md and "cold start + GRPO, 7B (paper)" in md
    acc = first["accuracy"]["heldin"]
    # only the benchmarks evaluated are columns; no paper benchmark in this slice, so no 4-benchmark average
    assert f"| **tiny_base** | **{acc:.1f}** (2) | **-** |" in md
    assert "Delta against `tiny_base`" in md and "| again | +0.0 | - |" in md
    assert "Reflection (responses with a reflection pattern" in md
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads((out / "compare.json").read_text())
    assert stored["preset"] == "tiny" and stored["baseline"] == "tiny_base"
    assert stored["models"][0]["reflection"]["overall"]["n"] == 2
    # a rerun reuses everything in --out
    again = compare([str(base_run), "again=tiny:model"], out, preset="tiny", overrides=SLICE,
                    resolve=hub_resolver(offline=True), baseline="again")
    assert again["baseline"] == "again"
    assert json.loads((out / "evals" / "again" / "results.json").read_text())["generation"]["generated"] == 0


def test_other_settings_are_evaluated_afresh(base_run: Path, tmp_path: Path) -> None:
    other = [*SLICE[:-1], "max_new_tokens=9"]
    summary = compare([str(base_run)], tmp_path, preset="tiny", overrides=other, resolve=hub_resolver(offline=True))
    assert summary["models"][0]["reused_predictions"] == 0
    assert json.loads((tmp_path / "evals" / "tiny_base" / "results.json").read_text())["generation"]["generated"] == 2


def test_inputs_are_checked(tmp_path: Path, base_run: Path) -> None:
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "empty_run" / "manifest.json").write_text(json.dumps({"stages": {"sft_data": {"status": "done"}}}))
    with pytest.raises(CompareError, match="has no model to compare"):
        parse_input(str(tmp_path / "empty_run"))
    (tmp_path / "junk").mkdir()
    with pytest.raises(CompareError, match="neither a run directory"):
        parse_input(str(tmp_path / "junk"))
    assert parse_input("base=Qwen/Qwen2.5-VL-7B-Instruct").label == "base"
    assert parse_input("Qwen/Qwen2.5-VL-7B-Instruct").label == "Qwen/Qwen2.5-VL-7B-Instruct"
    with pytest.raises(CompareError, match="share the label"):
        compare([str(base_run), f"tiny_base={base_run}"], tmp_path / "x", preset="tiny", overrides=SLICE)
    with pytest.raises(CompareError, match="baseline 'nope' is not one of"):
        compare([str(base_run)], tmp_path / "x", preset="tiny", overrides=SLICE, baseline="nope")
