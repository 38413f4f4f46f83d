"""GRPO/parity.py: the paper's values, written once, against the composed 7B recipe and GRPO/README.md."""

from __future__ import annotations

import dataclasses

import pytest

from GRPO import swift_flags, verl_overrides
from GRPO.config import GRPOConfig
from GRPO.parity import (
    DIFFERENCES,
    NO_COUNTERPART,
    README,
    RECIPE,
    REFERENCE,
    composed_value,
    main,
    paper,
    readme_sections,
)
from recipes.pipeline.compose import compose
from recipes.readme_tables import fill_readme


@pytest.fixture(scope="module")
def cfg7b():
    return compose(RECIPE)


def test_every_reference_value_is_the_7b_recipes_or_a_documented_difference(cfg7b):
    """The one test of the paper's values: each is what the composed recipe gives its setting, unless the
    difference is named in DIFFERENCES (and a named difference must really differ, or it is stale)."""
    wrong = {}
    for key, ref in REFERENCE.items():
        ours = composed_value(cfg7b, key)
        same = (ours == ref.value and type(ours) is type(ref.value)) or (
            isinstance(ref.value, float) and isinstance(ours, float) and ours == pytest.approx(ref.value))
        if same == (key in DIFFERENCES):
            wrong[key] = (ref.value, ours)
    assert wrong == {}, "reference value vs the 7B recipe's (add a DIFFERENCES entry only for a deliberate one)"


def test_every_map_row_names_a_reference_setting_or_our_own():
    """Each verl row has a reference value; a swift row without one is a setting of ours (shown `—`)."""
    assert [r.key for r in verl_overrides.PARITY if r.key not in REFERENCE] == []
    ours = sorted({r.key for r in swift_flags.PARITY if r.key not in REFERENCE})
    assert ours == ["grpo.project_name", "grpo.reward_num_workers"]
    assert set(DIFFERENCES) <= set(REFERENCE)


def test_schema_defaults_come_from_the_parity_module():
    defaults = {f"grpo.{f.name}": f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(GRPOConfig)}
    for key in REFERENCE.keys() & defaults.keys():
        expected = paper(key)
        assert (tuple(defaults[key]) if isinstance(defaults[key], list) else defaults[key]) == expected \
            or key in DIFFERENCES, key
    with pytest.raises(KeyError, match="no reference value"):
        paper("grpo.project_name")


def test_named_differences_without_a_verl_equivalent():
    differs = [k for k in NO_COUNTERPART if k.endswith("DIFFERS")]
    for topic in ("reference-model dtype", "rollout seed", "chunked prefill"):
        assert any(topic in k for k in differs), topic
    assert "(policy loss aggregation)" in DIFFERENCES
    assert any("system message" in k for k in NO_COUNTERPART)


def test_readme_tables_are_the_generated_ones(cfg7b):
    text = README.read_text(encoding="utf-8")
    assert fill_readme(text, readme_sections(cfg7b)) == text, \
        "GRPO/README.md's parity tables are stale: run `python -m GRPO.parity --write`"


def test_generator_prints_the_tables(capsys, cfg7b):
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == "\n\n".join(readme_sections(cfg7b).values()) + "\n"
    assert main(["--bogus"]) == 2


def test_fill_readme_refuses_a_readme_without_markers():
    with pytest.raises(ValueError, match="generated:verl"):
        fill_readme("no markers here\n", {"verl": "| table |"})
