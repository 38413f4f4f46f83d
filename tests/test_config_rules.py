"""Tests generated from the schema (recipes/checks.py): every leaf of every recipe is given a value of the wrong
type and a value out of its range, and each must be refused with its key named, or be declared free
(`free(default, why)` on its field). A new config leaf with neither fails here by name: give its field a rule
(`check(default, choices=..., ge=...)`) or mark it `free` with the reason.

Each recipe is composed once (cached); the values are set on that config and put back, so the ~1,500 cases run
the schema pass only (the stages' upstream checks have their own tests below)."""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from recipes.checks import ConfigError, Rule, leaves, rule_of, schema_problems
from recipes.pipeline.compose import compose, list_recipes
from recipes.pipeline.config import PipelineConfig
from recipes.pipeline.runner import Runner
from recipes.pipeline.validate import problems

from helpers.tiers import one_fast

ROOT = Path(__file__).resolve().parent.parent
RECIPES = list_recipes()
MISSING_VALUE = object()


@functools.cache
def composed(recipe: str) -> DictConfig:
    """`recipe` composed once, writable (each case puts its value back)."""
    cfg = compose(recipe)
    OmegaConf.set_readonly(cfg, False)
    return cfg


def leaf_rows(recipe: str) -> list[tuple[str, dataclasses.Field, Any]]:
    return [(key, f, tp) for key, f, tp, _ in leaves(PipelineConfig, composed(recipe))]


def _base(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(tp) else tp


def wrong_type(tp: Any) -> Any:
    """A value OmegaConf cannot turn into `tp`."""
    base = _base(tp)
    origin = typing.get_origin(base)
    if origin is list or origin is dict:
        return 3
    if base is str:
        return [1, 2]
    return {"int": "abc", "float": "abc", "bool": "maybe"}[base.__name__]


def out_of_range(rule: Rule, tp: Any) -> Any:
    """A value of the right type that `rule` refuses: a near miss of a closed set, a bound crossed, a pattern
    missed, or the example a relation refuses."""
    if rule.refuses is not None:
        return rule.refuses
    base = _base(tp)
    if rule.choices is not None:
        miss = f"{rule.options()[0]}x"
        return [miss] if typing.get_origin(base) is list else miss
    number = int if base is int else float
    for name, step in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
        bound = getattr(rule, name)
        if bound is not None:
            return number(bound + step) if number is int else bound + step * 0.5
    if rule.pattern:
        return "not valid!"
    return MISSING_VALUE


def refused(cfg: DictConfig, key: str, value: Any) -> tuple[bool, str]:
    """Set `key` to `value`, run the schema pass, put the old value back: (was the key named, what was said)."""
    old = OmegaConf.select(cfg, key)
    old = OmegaConf.to_container(old) if OmegaConf.is_config(old) else old
    try:
        OmegaConf.update(cfg, key, value, merge=False)
    except ValidationError as err:  # what Hydra raises for such an override (compose names it, see below)
        return err.full_key == key, str(err).splitlines()[0]
    try:
        found = schema_problems(PipelineConfig, cfg)
    finally:
        OmegaConf.update(cfg, key, old, merge=False)
    named = [p for p in found if p.key == key]
    return bool(named), "; ".join(p.line() for p in found) or "accepted"


@pytest.mark.parametrize("recipe", one_fast(RECIPES, "tiny"))
def test_every_leaf_has_a_rule_or_is_declared_free(recipe):
    unclassified = [key for key, f, tp in leaf_rows(recipe) if rule_of(f) is None and _base(tp) is not bool]
    assert not unclassified, (
        "config leaves with no value rule: give each field `check(default, choices=/ge=/...)` or "
        "`free(default, why)` (recipes/checks.py):\n  " + "\n  ".join(unclassified))


@pytest.mark.parametrize("recipe", one_fast(RECIPES, "tiny"))
def test_every_leaf_refuses_a_wrong_type_by_name(recipe):
    cfg = composed(recipe)
    failures = []
    for key, _f, tp in leaf_rows(recipe):
        ok, said = refused(cfg, key, wrong_type(tp))
        if not ok:
            failures.append(f"{key}={wrong_type(tp)!r}: {said}")
    assert not failures, "wrong-type values not refused by key:\n  " + "\n  ".join(failures)


@pytest.mark.parametrize("recipe", one_fast(RECIPES, "tiny"))
def test_every_ranged_leaf_refuses_an_out_of_range_value_by_name(recipe):
    cfg = composed(recipe)
    failures, checked = [], 0
    for key, f, tp in leaf_rows(recipe):
        rule = rule_of(f)
        if rule is None or rule.free is not None or _base(tp) is bool:
            continue  # free: documented on the field; bool: its type is its range (the wrong-type test)
        bad = out_of_range(rule, tp)
        if bad is MISSING_VALUE:
            failures.append(f"{key}: its rule {rule} refuses nothing; add a bound or choices, or make it free")
            continue
        checked += 1
        ok, said = refused(cfg, key, bad)
        if not ok:
            failures.append(f"{key}={bad!r}: {said}")
        elif rule.choices is not None and not callable(rule.choices) and "did you mean" not in said:
            failures.append(f"{key}={bad!r}: no closest valid value in {said!r}")
    assert not failures, "out-of-range values not refused by key:\n  " + "\n  ".join(failures)
    assert checked > 100


def test_the_issue_values_are_refused_at_once_one_line_each(tmp_path):
    """Issue 27's list, as a user types it: exit 2, no traceback, every problem on its own line, nothing written."""
    bad = ["grpo.rollout_n=0", "grpo.temperature=-1", "grpo.kl_loss_type=foo", "grpo.adv_estimator=grpoo",
           "grpo.tensor_parallel_size=3", "eval.benchmarks=[mathvistaa]", "eval.max_new_tokens=0",
           "data.on_bad_row=skp", "sft.global_batch_size=63", "cluster.launcher=slurm", "+grpo.rolout_n=5"]
    p = subprocess.run([sys.executable, "-m", "recipes.pipeline.rlcs", "run", "qwen2_5_vl_7b", "dry_run=true",
                        f"runs_dir={tmp_path}", *bad], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and p.stdout == ""
    lines = p.stderr.splitlines()
    assert lines[0].startswith("error: run 'qwen2_5_vl_7b': 11 problem(s)")
    expected = {
        "grpo.rollout_n=0": "must be >= 2", "grpo.temperature=-1.0": "must be > 0",
        "grpo.kl_loss_type='foo'": "one of kl,", "grpo.adv_estimator='grpoo'": "did you mean 'grpo'?",
        "grpo.tensor_parallel_size=3": "must divide the GPUs of a node (cluster.nproc_per_node=8)",
        "eval.benchmarks='mathvistaa'": "did you mean 'mathvista'?", "eval.max_new_tokens=0": "must be >= 1",
        "data.on_bad_row='skp'": "did you mean 'skip'?", "sft.global_batch_size=63": "is not divisible by",
        "cluster.launcher='slurm'": "one of auto, ray, local", "grpo.rolout_n=5": "did you mean 'grpo.rollout_n'?",
    }
    for start, says in expected.items():
        assert [line for line in lines[1:] if line.strip().startswith(start) and says in line], (start, lines)
    assert list(tmp_path.iterdir()) == []


def test_wrong_types_and_unknown_names_through_hydra_are_all_named():
    with pytest.raises(ConfigError) as err:
        compose("tiny", ["grpo.rollout_n=abc", "sft.learning_rate=x", "eval=paperr", "grpo.nope=1", "grpo.top_p=2"])
    lines = {p.key: p for p in err.value.problems}
    assert lines["grpo.rollout_n"].allowed == "must be an integer"
    assert lines["sft.learning_rate"].allowed == "must be a number"
    assert lines["eval"].closest == "paper"
    assert lines["grpo.nope"].allowed == "not a key of grpo"
    assert "must be > 0 and <= 1" in lines["grpo.top_p"].line()  # the accepted overrides' schema problems too


def test_a_plus_key_typo_is_refused_with_the_closest_key():
    found = problems(compose("tiny", ["+grpo.rolout_n=5", "+sft.lerning_rate=1e-5"]))
    assert {p.key: p.closest for p in found} == {"grpo.rolout_n": "grpo.rollout_n",
                                                 "sft.lerning_rate": "sft.learning_rate"}


def test_a_real_run_with_a_bad_value_writes_nothing(tmp_path):
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "grpo.rollout_n=1", "data.min_pixels=9999999"])
    with pytest.raises(ConfigError, match=r"grpo\.rollout_n=1: must be >= 2") as err:
        Runner(cfg).run()
    assert "data.min_pixels=9999999: must be <= data.max_pixels (200704)" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_relations_between_groups_follow_the_selected_stages(monkeypatch):
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    cfg = compose("qwen2_5_vl_7b", ["sft.global_batch_size=63", "grpo.tensor_parallel_size=3"])
    assert {p.key for p in schema_problems(PipelineConfig, cfg)} == {"sft.global_batch_size",
                                                                     "grpo.tensor_parallel_size"}
    only_eval = compose("qwen2_5_vl_7b", ["sft.global_batch_size=63", "grpo.tensor_parallel_size=3",
                                          "stages=[eval]"])
    assert schema_problems(PipelineConfig, only_eval) == []
    no_ray = compose("tiny", ["cluster.launcher=ray"])
    assert [p.line() for p in schema_problems(PipelineConfig, no_ray)] == [
        "cluster.launcher='ray': ray needs a Ray cluster: set cluster.address (auto, ray://HOST:10001) or use "
        "cluster=ray, or submit with `rlcs submit`"]
    assert schema_problems(PipelineConfig, compose("tiny", ["cluster.launcher=ray", "cluster.address=auto"])) == []
    on_cpu = compose("tiny", ["grpo.backend=verl"])
    assert [p.key for p in schema_problems(PipelineConfig, on_cpu)] == ["grpo.backend", "grpo.rollout_engine"]


def test_submit_validates_before_sending_anything(capsys):
    from recipes.pipeline.submit import main

    assert main(["tiny", "grpo.rollout_n=0", "--address", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "grpo.rollout_n=0: must be >= 2" in err and "submitted" not in err


@pytest.mark.slow
def test_the_stages_run_the_upstream_tools_own_checks_and_the_closed_sets_match_them():
    """verl's config code over our overrides, ms-swift's parser over our flags (imports both: ~30 s), and the
    schema's copies of their closed sets equal to theirs."""
    from transformers.trainer_utils import SchedulerType
    from verl.trainer.ppo.core_algos import AdvantageEstimator
    from verl.utils.tracking import Tracking

    from GRPO.config import ADV_ESTIMATORS, LOGGERS
    from SFT.config import LR_SCHEDULERS

    assert set(ADV_ESTIMATORS) == {e.value for e in AdvantageEstimator}
    assert set(LR_SCHEDULERS) == {s.value for s in SchedulerType}
    assert set(LOGGERS) <= set(Tracking.supported_backend)

    assert problems(compose("tiny")) == []
    assert problems(compose("qwen2_5_vl_7b")) == []
    found = problems(compose("tiny", ["+sft.extra_args.attn_imple=sdpa", "+sft.extra_args.max_steps=x"]))
    assert [p.key for p in found] == ["sft.extra_args"] and "attn_impl" in found[0].line()
    found = problems(compose("tiny", ["+sft.extra_args.max_steps=x"]))
    assert [p.key for p in found] == ["sft.extra_args.max_steps"] and "invalid int value" in found[0].line()
    found = problems(compose("qwen2_5_vl_7b", ["grpo.rollout_batch_size=3", "grpo.global_batch_size=3",
                                               "grpo.rollout_n=2"]))  # 3 x 2 responses on 8 GPUs: verl refuses
    assert [p.key for p in found] == ["grpo.rollout_batch_size"]
    assert "verl's own check refuses it" in found[0].line() and "real_train_batch_size (6)" in found[0].line()


def test_rlcs_validate_runs_the_pass_alone(capsys):
    from recipes.pipeline.rlcs import main

    assert main(["validate", "tiny", "--schema-only"]) == 0
    assert re.match(r"ok: tiny \(tiny\): \d+ settings and the schema passed in", capsys.readouterr().out)
    assert main(["validate", "tiny", "grpo.rollout_n=0", "eval.top_p=0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: run 'tiny': 2 problem(s) in the config; nothing was run or written:",
                   "  grpo.rollout_n=0: must be >= 2", "  eval.top_p=0.0: must be > 0 and <= 1"]
