"""SFT/parity.py: the paper's SFT values, written once, against the composed 7B recipe and SFT/README.md."""

from __future__ import annotations

import dataclasses
import re

import pytest

from recipes.pipeline.compose import compose
from recipes.readme_tables import fill_readme
from SFT.config import SFTConfig
from SFT.flags import SFTPaths, build_command
from SFT.parity import DIFFERENCES, README, RECIPE, REFERENCE, composed_value, flag_of, main, readme_sections

PATHS = SFTPaths(model="/m", dataset="/d/train.jsonl", output_dir="/o", system_file="/o/system.txt")


@pytest.fixture(scope="module")
def cfg7b():
    return compose(RECIPE)


def test_every_reference_value_is_the_7b_recipes_or_a_documented_difference(cfg7b):
    wrong = {}
    for key, ref in REFERENCE.items():
        ours = composed_value(cfg7b, key)
        same = ours == ref.value and type(ours) is type(ref.value)
        if same == (key in DIFFERENCES):
            wrong[key] = (ref.value, ours)
    assert wrong == {}, "reference value vs the 7B recipe's (add a DIFFERENCES entry only for a deliberate one)"


def test_every_sft_field_has_a_reference_row_or_a_readme_line():
    text = README.read_text(encoding="utf-8")
    for f in dataclasses.fields(SFTConfig):
        assert f"sft.{f.name}" in REFERENCE or f"`{f.name}`" in text, f"sft.{f.name}: no parity row"


def test_each_rows_flag_is_in_the_7b_command(cfg7b):
    """The flag column names flags the command really passes (env names in the environment); a null
    setting passes nothing (ms-swift's default), except the derived accumulation."""
    cmd = build_command(cfg7b, PATHS)
    for key in REFERENCE:
        if composed_value(cfg7b, key) is None and key != "sft.gradient_accumulation_steps":
            continue
        for name in re.findall(r"`(--?[\w]+|[A-Z_]+)`", flag_of(key)):
            assert name in cmd.argv or name in cmd.env, (key, name)


def test_readme_table_is_the_generated_one(cfg7b):
    text = README.read_text(encoding="utf-8")
    assert fill_readme(text, readme_sections(cfg7b)) == text, \
        "SFT/README.md's parity table is stale: run `python -m SFT.parity --write`"


def test_generator_prints_the_table(capsys, cfg7b):
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == "\n\n".join(readme_sections(cfg7b).values()) + "\n"
