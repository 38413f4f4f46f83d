"""One syntax for config values on every command line (`key=value`, as `rlcs run`): anywhere on the line, the old
flags translated with one line each, values quoted so Hydra reads them back as written."""

from __future__ import annotations

import argparse

import pytest

from recipes.overrides import Alias, parse, quote


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cmd")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--out")
    for alias in ALIASES:
        alias.add_to(p)
    return p


ALIASES = (Alias("--limit", ("limit={}",)), Alias("--fast", ("a.b=true", "c=1"), nargs=0),
           Alias("--names", ("names=[{}]",), nargs="+"), Alias("--set", ("{}",), metavar="KEY=VALUE"))


def test_overrides_anywhere_and_aliases_translated(capsys):
    args = parse(_parser(), ["x=1", "--out", "d", "y.z=2", "--limit", "3", "--fast", "--names", "a", "b",
                             "--set", "w=it's"], ALIASES)
    assert args.out == "d"
    assert args.overrides == ["x=1", "limit=3", "a.b=true", "c=1", "names=[a,b]", "w=it's", "y.z=2"]
    assert capsys.readouterr().err.splitlines() == [
        "cmd: --limit is deprecated; write limit=3", "cmd: --fast is deprecated; write a.b=true c=1",
        "cmd: --names is deprecated; write names=[a,b]", "cmd: --set is deprecated; write w=it's"]


@pytest.mark.parametrize("argv", [["x=1", "--nope"], ["x=1", "--out", "d", "plain"]])
def test_anything_else_is_refused_as_argparse_does(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(_parser(), argv, ALIASES)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"cmd: error: unrecognized arguments: {argv[-1]}"


@pytest.mark.parametrize("value", ["tiny:rl", "/a/b-c.parquet", "Please reason, within \\boxed{}.", "it's",
                                   "ends with \\", "a=b [x]"])
def test_quoted_values_read_back_as_written(value):
    from recipes.pipeline.compose import compose

    assert compose("tiny", [f"data.system_prompt={quote(value)}"]).data.system_prompt == value


def test_evaluate_takes_key_value_and_its_old_flags(capsys):
    from evaluation.rlcs_evaluate import RUN_ALIASES, build_parser

    args = parse(build_parser("rlcs evaluate"), ["run", "M", "limit=3", "--out", "o", "--testmini", "--tp", "2",
                                                 "--judge-url", "http://h:8/v1", "sources.x.split=t"], RUN_ALIASES)
    assert (args.model, str(args.out)) == ("M", "o")
    assert args.overrides == ["limit=3", "sources.mathvision.split=testmini", "tensor_parallel_size=2",
                              "judge.enabled=true", "judge.url=http://h:8/v1", "sources.x.split=t"]
    assert capsys.readouterr().err.splitlines() == [
        "rlcs evaluate: --testmini is deprecated; write sources.mathvision.split=testmini",
        "rlcs evaluate: --tp is deprecated; write tensor_parallel_size=2",
        "rlcs evaluate: --judge-url is deprecated; write judge.enabled=true judge.url=http://h:8/v1"]


def test_evaluate_score_reads_only_the_judges_settings(tmp_path, capsys):
    from evaluation.rlcs_evaluate import main

    assert main(["score", str(tmp_path / "p.jsonl"), "judge.model=x", "limit=3"], prog="rlcs evaluate") == 2
    assert capsys.readouterr().err.splitlines() == ["error: score reads only judge.KEY=value settings, not limit=3"]


def test_compare_tells_settings_from_inputs():
    from evaluation.compare import split_settings

    assert split_settings(["runs/a", "base=Qwen/X", "limit=3", "sources.mathvista.split=t", "+judge.url=h",
                           "mine=tiny:model"]) == (["runs/a", "base=Qwen/X", "mine=tiny:model"],
                                                   ["limit=3", "sources.mathvista.split=t", "+judge.url=h"])
