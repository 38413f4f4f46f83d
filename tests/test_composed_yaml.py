"""The checked-in composed recipes (recipes/generated/) equal what the recipes compose to today."""

from __future__ import annotations

import pytest

from GRPO.paper import paper as grpo_paper
from recipes.pipeline.composed_yaml import COMMAND, RECIPES, main, path_of, render
from SFT.paper import paper as sft_paper


@pytest.mark.parametrize("recipe", RECIPES)
def test_checked_in_composed_recipe_is_current(recipe):
    path = path_of(recipe)
    assert path.exists(), f"{path} is missing: run `{COMMAND}`"
    assert path.read_text(encoding="utf-8") == render(recipe), \
        f"{path} is stale (recipes/conf or the schema changed): run `{COMMAND}` and commit the result"


def test_the_composed_7b_recipe_reads_the_paper_values():
    text = path_of("qwen2_5_vl_7b").read_text(encoding="utf-8")
    assert f"  rollout_n: {grpo_paper('grpo.rollout_n')}\n" in text
    assert f"  num_train_epochs: {sft_paper('sft.num_train_epochs')}\n" in text


def test_check_mode_reports_without_writing(capsys):
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--bogus"]) == 2
