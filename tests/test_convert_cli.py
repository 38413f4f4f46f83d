"""The converter command lines (`rlcs convert-sft`, `rlcs convert-rl`) declare no setting of their own: they read
their stage's `config_keys` from a composed recipe (`key=value`, as `rlcs run`), refuse bad values with the
pipeline's own lines, document each setting from the schema, and convert exactly as the stage does."""

from __future__ import annotations

import dataclasses
import json

import pytest

from recipes.pipeline.compose import compose
from recipes.pipeline.config import DataConfig
from recipes.pipeline.convert_cli import RL, SFT, build_parser, keys_of, main_rl, main_sft, setting_help
from recipes.pipeline.validate import problems


def test_the_two_converters_read_every_data_setting_and_nothing_else():
    read = set(keys_of(SFT.stage)) | set(keys_of(RL.stage))
    assert {k for k in read if k.startswith("data.")} == {f"data.{f.name}" for f in dataclasses.fields(DataConfig)}
    assert {k for k in read if not k.startswith("data.")} == {"model.path", "hub.offline", "hub.cache_dir"}
    assert "data.rl_source" not in keys_of(SFT.stage) and "data.sft_source" not in keys_of(RL.stage)


def test_help_is_generated_from_the_schema():
    """Each setting's line: the schema's default, type, rule and docstring (no text of the converter's own)."""
    assert setting_help("data.max_rows") == (
        "  data.max_rows=null\n      an integer or null: >= 1\n"
        "      Convert only the first N rows (smoke tests); null converts everything.")
    assert setting_help("data.on_bad_row") == (
        "  data.on_bad_row=error\n      a string: one of error, skip\n"
        "      `error` stops at the first bad row; `skip` writes it to a rejects file and goes on.")
    assert setting_help("hub.offline").startswith("  hub.offline=false\n      true or false\n")
    text = build_parser(RL, "rlcs convert-rl").format_help()
    for key in keys_of(RL.stage):
        assert f"\n{setting_help(key)}\n" in text
    assert "  --min-pixels VALUE         ->  data.min_pixels=VALUE\n" in text
    assert "  --system-prompt VALUE      ->  data.system_prompt=VALUE data.rl_system_prompt=true\n" in text


@pytest.mark.parametrize("main", [main_sft, main_rl], ids=["sft", "rl"])
def test_bad_values_are_refused_with_the_pipelines_lines(main, tmp_path, capsys):
    over = ["data.on_bad_row=ignor", "data.max_rows=0", "data.max_pixels=1000"]
    assert main(["tiny", *over, "--out", str(tmp_path)], prog="rlcs convert-x") == 2
    err = capsys.readouterr().err.splitlines()
    pipeline = [p.line() for p in problems(compose("tiny", [*over, "stages=[sft_data]"]), upstream=False)]
    assert err == ["error: rlcs convert-x: 3 problem(s) in the settings; nothing was converted:",
                   *(f"  {line}" for line in pipeline)]
    assert pipeline == ["data.on_bad_row='ignor': one of error, skip",
                        "data.max_rows=0: must be >= 1", "data.min_pixels=3136: must be <= data.max_pixels (1000)"]
    assert not any(tmp_path.iterdir())


def test_a_key_the_converter_does_not_read_is_refused_with_the_near_miss(tmp_path, capsys):
    assert main_sft(["tiny", "data.max_pixel=5", "data.rl_source=x", "sft.learning_rate=1", "--out", str(tmp_path)],
                    prog="c") == 2
    err = capsys.readouterr().err.splitlines()
    reads = ", ".join(keys_of(SFT.stage))
    assert err == ["error: c: 3 override(s) refused; nothing was converted:",
                   f"  data.max_pixel='5': not a setting c reads ({reads}); did you mean 'data.max_pixels'?",
                   f"  data.rl_source='x': not a setting c reads ({reads}); did you mean 'data.sft_source'?",
                   f"  sft.learning_rate='1': not a setting c reads ({reads})"]


def test_a_wrong_type_is_refused_as_rlcs_run_refuses_it(tmp_path, capsys):
    assert main_sft(["data.max_pixels=abc", "--out", str(tmp_path)], prog="c") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: recipe 'qwen2_5_vl_7b': 1 override(s) refused; nothing was run:",
        "  data.max_pixels='abc': must be an integer"]


def _settings(summary_path):
    s = json.loads(summary_path.read_text())["settings"]
    return {k: v for k, v in s.items() if k != "image_dir"}


def test_convert_sft_converts_as_the_stage_does(tmp_path, tiny_world, capsys):
    """`rlcs convert-sft tiny data.max_rows=4` and `rlcs run tiny stages=[sft_data] data.max_rows=4` write the same
    rows with the same settings; the deprecated flags give the same conversion and one line each."""
    from recipes.pipeline.runner import Runner

    over = ["data.max_rows=4", "data.num_workers=1"]
    Runner(compose("tiny", [*over, "stages=[sft_data]", f"runs_dir={tmp_path / 'runs'}"]), echo=lambda *_: None).run()
    staged = tmp_path / "runs" / "tiny" / "sft_data"
    assert main_sft(["tiny", *over, "--out", str(tmp_path / "cli"), "--no-progress"], prog="rlcs convert-sft") == 0
    assert _settings(tmp_path / "cli" / "train.summary.json") == _settings(staged / "train.summary.json")
    rows = [json.loads(line)["messages"] for line in (tmp_path / "cli" / "train.jsonl").read_text().splitlines()]
    assert rows == [json.loads(line)["messages"] for line in (staged / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    capsys.readouterr()
    assert main_sft(["tiny", "--max-rows", "4", "--num-workers", "1", "--out", str(tmp_path / "old"),
                     "--no-progress"], prog="rlcs convert-sft") == 0
    assert capsys.readouterr().err.splitlines() == [
        "rlcs convert-sft: --num-workers is deprecated; write data.num_workers=1",
        "rlcs convert-sft: --max-rows is deprecated; write data.max_rows=4"]
    assert _settings(tmp_path / "old" / "train.summary.json") == _settings(staged / "train.summary.json")


def test_convert_rl_follows_the_recipes_prompt_setting(tmp_path, tiny_world):
    """The tiny recipe writes SFT's system prompt into RL prompts (data.rl_system_prompt=true); the converter does
    too, and `data.val_source=none` converts no validation set."""
    import pyarrow.parquet as pq

    over = ["data.max_rows=2", "data.num_workers=1", "data.val_source=none"]
    assert main_rl(["tiny", *over, "--out", str(tmp_path), "--no-progress"], prog="rlcs convert-rl") == 0
    prompts = pq.read_table(tmp_path / "train.parquet").column("prompt").to_pylist()
    assert [p[0] for p in prompts] == [{"role": "system", "content": DataConfig().system_prompt}] * 2
    assert not (tmp_path / "val.parquet").exists()
