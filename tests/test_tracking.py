"""`logger=[...]` once at the top of a recipe reaches each tool's own flag: ms-swift `--report_to` (SFT, GRPO on
the swift backend) and verl `trainer.logger`, with one project, one group per run and dirs under runs/<run>/."""

from __future__ import annotations

import pytest

from GRPO.swift_command import SwiftPaths, swift_command
from GRPO.verl_command import verl_overrides
from recipes import tracking
from recipes.pipeline.compose import ConfigError, compose
from recipes.pipeline.validate import validate
from SFT.sft_command import SFTPaths, build_command

SFT_PATHS = SFTPaths(model="m", dataset="d.jsonl", output_dir="o", system_file="s.txt")


def _flag(argv: list[str], name: str) -> list[str]:
    """The values after `--name` up to the next flag."""
    i = argv.index(f"--{name}")
    out = []
    for a in argv[i + 1:]:
        if a.startswith("--"):
            break
        out.append(a)
    return out


def _verl(cfg) -> dict[str, str]:
    return dict(o.split("=", 1) for o in verl_overrides(cfg, model_path="m", train_files="t", val_files="v",
                                                         checkpoint_dir="c"))


def test_one_logger_list_reaches_both_stages_in_one_project_and_group(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}", "logger=[tensorboard,wandb]", "tracker.project=sweep1"])
    run = tmp_path.resolve() / "qwen2_5_vl_7b"
    sft = build_command(cfg, SFT_PATHS)
    assert _flag(sft.argv, "report_to") == ["tensorboard", "wandb"]
    assert _flag(sft.argv, "run_name") == ["qwen2_5_vl_7b/sft"]
    assert _flag(sft.argv, "logging_dir") == [str(run / "tensorboard" / "sft")]
    assert sft.env["WANDB_PROJECT"] == "sweep1" and sft.env["WANDB_RUN_GROUP"] == "qwen2_5_vl_7b"
    assert sft.env["WANDB_MODE"] == "offline" and sft.env["WANDB_DIR"] == str(run)  # no key: offline
    verl = _verl(cfg)
    assert verl["trainer.logger"] == "[console,tensorboard,wandb]"
    assert verl["trainer.project_name"] == "sweep1" and verl["trainer.experiment_name"] == "qwen2_5_vl_7b/grpo"
    env = tracking.stage_env(cfg, "grpo")
    assert env["TENSORBOARD_DIR"] == str(run / "tensorboard" / "grpo")  # verl's _TensorboardAdapter
    assert env["WANDB_RUN_GROUP"] == sft.env["WANDB_RUN_GROUP"] and env["WANDB_NAME"] == "qwen2_5_vl_7b/grpo"
    swift = swift_command(compose("tiny", [f"runs_dir={tmp_path}", "logger=[tensorboard,wandb]"]),
                          SwiftPaths(model="m", train_file="t.parquet", output_dir="o"))
    assert _flag(swift.argv, "report_to") == ["tensorboard", "wandb"]
    assert _flag(swift.argv, "run_name") == ["tiny/grpo"] and swift.env["WANDB_RUN_GROUP"] == "tiny"


def test_without_logger_each_stage_keeps_its_own_setting(tmp_path):
    cfg = compose("qwen2_5_vl_7b", [f"runs_dir={tmp_path}"])
    assert _flag(build_command(cfg, SFT_PATHS).argv, "report_to") == ["tensorboard"]  # the paper's
    verl = _verl(cfg)
    assert verl["trainer.logger"] == "[console,wandb]" and verl["trainer.experiment_name"] == "qwen2_5_vl_7b"
    assert verl["trainer.project_name"] == "rl-cold-start"


def test_credentials_and_other_trackers(tmp_path):
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "logger=[wandb,mlflow,swanlab]", "tracker.group=g1"])
    env = tracking.stage_env(cfg, "sft", environ={"WANDB_API_KEY": "k"})
    assert "WANDB_MODE" not in env and env["WANDB_RUN_GROUP"] == "g1"  # a key: online
    assert env["MLFLOW_EXPERIMENT_NAME"] == "rl-cold-start"
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"  # one store per sweep
    assert env["SWANLAB_MODE"] == "local" and env["SWANLAB_LOG_DIR"] == str(tmp_path.resolve() / "tiny" / "swanlog")
    flags = tracking.swift_flags(cfg, "sft")
    assert flags[flags.index("--swanlab_project") + 1] == "rl-cold-start" and "--swanlab_mode" in flags
    lines = tracking.where_to_look(cfg, environ={})
    assert any(line.startswith("wandb (offline): project 'rl-cold-start', group 'g1'; wandb sync") for line in lines)
    assert any(line.startswith("mlflow: mlflow ui --backend-store-uri sqlite:///") for line in lines)


def test_unknown_logger_is_refused_naming_the_choices(tmp_path):
    """The schema's rule on `logger` (recipes/pipeline/config.py): each name checked, the near miss named."""
    with pytest.raises(ConfigError) as err:
        validate(compose("tiny", [f"runs_dir={tmp_path}", "logger=[tensorbored]"]), upstream=False)
    assert [p.line() for p in err.value.problems] == [
        "logger='tensorbored': one of tensorboard, wandb, mlflow, swanlab, console, none; did you mean 'tensorboard'?"]
    with pytest.raises(ConfigError, match="logger"):
        compose("tiny", ["logger=tensorboard"])  # a list, not a string
