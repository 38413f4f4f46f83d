"""Ablations as recipe options: stages, run names, and which model each stage starts from."""

from __future__ import annotations

import pytest

from recipes.ablation import starts_from
from recipes.pipeline.compose import ConfigError, compose, list_recipes
from recipes.pipeline.runner import Runner
from recipes.pipeline.validate import validate
from recipes.stage import StageContext

from helpers.tiers import one_fast


@pytest.mark.parametrize("recipe", one_fast(list_recipes(), "tiny"))
@pytest.mark.parametrize("name,stages", [
    ("rl_only", ["rl_data", "grpo", "merge", "eval"]),
    ("sft_only", ["sft_data", "sft", "eval"]),
    ("base", ["eval"]),
])
def test_each_ablation_has_its_stages_and_run_name(recipe: str, name: str, stages: list[str]) -> None:
    cfg = compose(recipe, [f"ablation={name}"])
    assert list(cfg.stages) == stages
    assert cfg.run_name == f"{recipe}_{name}"
    full = compose(recipe)
    assert full.ablation == "full" and full.run_name == recipe and {"sft", "grpo", "merge", "eval"} <= set(full.stages)


def test_explicit_run_name_and_stage_subset_are_kept() -> None:
    cfg = compose("tiny", ["ablation=rl_only", "run_name=mine", "stages=[grpo,eval]"])
    assert cfg.run_name == "mine" and list(cfg.stages) == ["grpo", "eval"]
    with pytest.raises(ConfigError, match=r"ablation=base runs stages \['eval'\], none of which is in stages="):
        compose("tiny", ["ablation=base", "stages=[sft]"])
    with pytest.raises(ConfigError, match="ablation='rl': one of full, rl_only, sft_only, base"):
        validate(compose("tiny", ["ablation=rl"]))  # the validation pass names it with the others


def _ctx(cfg, outputs, stage):
    return StageContext(cfg, __import__("pathlib").Path("/nonexistent"), stage, outputs, {"tiny:model": "/base"},
                        dry_run=False)


def test_one_table_decides_where_grpo_and_eval_start() -> None:
    from evaluation.stage import choose_model
    from GRPO.train_stage import STAGE as GRPO_STAGE

    made = {"sft": {"checkpoint": "/sft"}, "grpo": {"checkpoint": "/grpo"}, "merge": {"model": "/merged"}}
    full = compose("tiny")
    assert GRPO_STAGE._actor_model(_ctx(full, made, "grpo")) == "/sft"
    assert choose_model(_ctx(full, made, "eval"))[0] == "/merged"
    # The same run dir outputs, read under each ablation: GRPO never starts from the SFT checkpoint in rl_only,
    # sft_only never evaluates a GRPO model, base evaluates the base model whatever the run dir holds.
    rl_only = compose("tiny", ["ablation=rl_only"])
    assert starts_from(rl_only, "grpo") == ()
    assert GRPO_STAGE._actor_model(_ctx(rl_only, made, "grpo")) == "/base"
    sft_only = compose("tiny", ["ablation=sft_only"])
    assert choose_model(_ctx(sft_only, made, "eval")) == ("/sft", "sft.checkpoint")
    base = compose("tiny", ["ablation=base"])
    assert choose_model(_ctx(base, made, "eval")) == ("tiny:model", "model.path (base model)")


@pytest.mark.slow  # the first dry run in a process imports the stages' tools: ~20 s loaded
@pytest.mark.parametrize("recipe", ["tiny", "qwen2_5_vl_7b"])
def test_dry_run_shows_the_ablation_plan(recipe: str, tmp_path) -> None:
    lines: list[str] = []
    cfg = compose(recipe, [f"runs_dir={tmp_path}", "ablation=rl_only", "dry_run=true"])
    Runner(cfg, echo=lines.append).run()
    text = "\n".join(lines)
    assert f"Plan for run '{recipe}_rl_only'" in text
    assert "ablation: rl_only (GRPO from the base model, no SFT); stages: rl_data, grpo, merge, eval" in text
    assert "] sft" not in text and "[2/4] grpo" in text and "evaluate <merge.model>" in text
    assert not (tmp_path / f"{recipe}_rl_only").exists()  # a dry run makes nothing
