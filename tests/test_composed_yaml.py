"""The checked-in composed recipes (recipes/generated/) equal what the recipes compose to today."""

from __future__ import annotations

import pytest

from recipes.composed_yaml import COMMAND, RECIPES, main, path_of, render


@pytest.mark.parametrize("recipe", RECIPES)
def test_checked_in_composed_recipe_is_current(recipe):
    path = path_of(recipe)
    assert path.exists(), f"{path} is missing: run `{COMMAND}`"
    assert path.read_text(encoding="utf-8") == render(recipe), \
        f"{path} is stale (recipes/conf or the schema changed): run `{COMMAND}` and commit the result"


def test_the_composed_7b_recipe_reads_the_paper_values():
    text = path_of("qwen2_5_vl_7b").read_text(encoding="utf-8")
    assert "  rollout_n: 10\n" in text and "  num_train_epochs: 3.0\n" in text


def test_check_mode_reports_without_writing(capsys):
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--bogus"]) == 2
