"""Training curves from ms-swift's and verl's own logs: parsing, reflection per step, one PNG per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recipes.atomic import read_jsonl
from recipes.pipeline.compose import compose
from recipes.pipeline.curves import grpo_curves, sft_curves, swift_log_steps, write_run_curves
from recipes.pipeline.runner import Runner
from recipes.stage import Stage, StageContext, StagePlan

# Lines of an ms-swift 4.6 `swift sft` logging.jsonl, as written by this project's tiny SFT run
# (runs/<run>/sft/output/logging.jsonl, 2026-11-27): train rows, then an eval row.
SFT_LOG = """\
{"loss": 11.94974422, "grad_norm": 2.55768609, "learning_rate": 0.00041667, "token_acc": 0.0, "epoch": 0.02631579, "global_step/max_steps": "1/228", "elapsed_time": "22s", "remaining_time": "1h 23m 22s", "train_speed(s/it)": 22.036045}
{"loss": 11.78491592, "grad_norm": 1.74476194, "learning_rate": 0.00208333, "token_acc": 0.02706027, "epoch": 0.13157895, "global_step/max_steps": "5/228", "elapsed_time": "1m 7s", "remaining_time": "49m 29s", "train_speed(s/it)": 13.314256}
{"loss": 9.18596802, "grad_norm": 1.70045245, "learning_rate": 0.00499762, "token_acc": 0.08803165, "epoch": 0.39473684, "global_step/max_steps": "15/228", "elapsed_time": "2m 57s", "remaining_time": "41m 59s", "train_speed(s/it)": 11.824317}
{"eval_loss": 1.63857651, "eval_runtime": 12.6829, "eval_samples_per_second": 0.631, "eval_steps_per_second": 0.631, "eval_token_acc": 0.55616438, "epoch": 2.0, "global_step/max_steps": "76/228", "elapsed_time": "17m 45s", "remaining_time": "35m 30s", "train_speed(s/it)": 14.010905}
"""

# verl 0.9.1 console logger lines (`step:N - key:value - ...`), the format GRPO/verl_metrics.py parses.
VERL_LOG = """\
(TaskRunner pid=1) step:1 - actor/pg_clipfrac:0.0012 - actor/kl_loss:0.0001 - critic/score/mean:0.25 - response_length/mean:180.5 - timing_s/step:40.1
(TaskRunner pid=1) step:2 - actor/pg_clipfrac:0.0030 - actor/kl_loss:0.0004 - critic/score/mean:0.375 - response_length/mean:171.0 - timing_s/step:38.7
"""


def test_sft_curves_from_swift_logging(tmp_path: Path) -> None:
    (tmp_path / "sft" / "output").mkdir(parents=True)
    (tmp_path / "sft" / "output" / "logging.jsonl").write_text(SFT_LOG + '{"loss": 1.0, "glo')  # torn tail
    series = sft_curves(tmp_path / "sft")
    assert series["loss"] == [(1.0, 11.94974422), (5.0, 11.78491592), (15.0, 9.18596802)]
    assert series["token accuracy"][-1] == (15.0, 0.08803165)
    assert series["eval loss"] == [(76.0, 1.63857651)] and series["eval token accuracy"] == [(76.0, 0.55616438)]
    paths = write_run_curves(tmp_path)
    assert set(paths) == {"sft"}
    assert Path(paths["sft"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads((tmp_path / "curves" / "sft.json").read_text())
    assert stored["loss"][0] == [1.0, 11.94974422]


def test_bad_middle_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    path.write_text(SFT_LOG.replace("}\n", "}\n{oops\n", 1))
    with pytest.raises(ValueError, match=r"logging.jsonl line 2: not JSON"):
        read_jsonl(path)
    path.write_text('{"loss": 2.0, "global_step/max_steps": "3/9"}\n{"loss": 1.0}\n')  # no step: not a point
    assert swift_log_steps(path) == [{"loss": 2.0, "global_step/max_steps": "3/9", "step": 3.0}]


def test_grpo_curves_from_verl_console_and_rollout_dumps(tmp_path: Path) -> None:
    grpo = tmp_path / "grpo"
    (grpo / "rollouts").mkdir(parents=True)
    (grpo / "log.txt").write_text("starting\n" + VERL_LOG)
    (grpo / "rollouts" / "1.jsonl").write_text(
        json.dumps({"input": "q", "output": "Wait, let me check. \\boxed{1}", "score": 1.0, "step": 1}) + "\n"
        + json.dumps({"input": "q", "output": "\\boxed{2}", "score": 0.0, "step": 1}) + "\n")
    backend, series = grpo_curves(grpo)
    assert backend == "verl"
    assert series["reward mean"] == [(1.0, 0.25), (2.0, 0.375)]
    assert series["response length"] == [(1.0, 180.5), (2.0, 171.0)]
    assert series["clip ratio"] == [(1.0, 0.0012), (2.0, 0.003)]
    assert series["KL"] == [(1.0, 0.0001), (2.0, 0.0004)]
    assert series["reflection share"] == [(1.0, 50.0)]
    assert Path(write_run_curves(tmp_path)["grpo"]).stat().st_size > 1000


def test_no_logs_no_curves(tmp_path: Path) -> None:
    assert grpo_curves(tmp_path / "grpo") is None and sft_curves(tmp_path / "sft") is None
    assert write_run_curves(tmp_path) == {}


class LoggingSFT(Stage):
    """An sft stage that writes ms-swift's log lines (SFT_LOG) where `swift sft` writes them."""

    name = "sft"

    def plan(self, ctx: StageContext) -> StagePlan:
        return StagePlan()

    def run(self, ctx: StageContext) -> dict[str, Any]:
        (ctx.stage_dir / "output").mkdir(parents=True, exist_ok=True)
        (ctx.stage_dir / "output" / "logging.jsonl").write_text(SFT_LOG)
        return {"checkpoint": str(ctx.stage_dir / "output")}


def test_run_summary_links_the_curves(tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = compose("tiny", [f"runs_dir={tmp_path}", "stages=[sft]"])
    Runner(cfg, echo=lines.append, stages={"sft": LoggingSFT()}).run()
    png = tmp_path / "tiny" / "curves" / "sft.png"
    assert f"  curves of sft: {png}" in lines and png.is_file()


# Two steps of an ms-swift 4.6 GRPO logging.jsonl and one step of its completions.jsonl (log_completions),
# from this project's tiny GRPO run of 2026-11-27 (the last completion's text edited to carry a re-check).
SWIFT_GRPO_LOG = """\
{"loss": 0.0, "grad_norm": 0.10309908, "learning_rate": 0.0005, "completions/mean_length": 26.0, "completions/min_length": 26.0, "completions/max_length": 26.0, "completions/clipped_ratio": 0.0, "reward": 0.125, "reward_std": 0.14433756, "frac_reward_zero_std": 0.75, "rewards/VerlAccuracy/mean": 0.125, "rewards/VerlAccuracy/std": 0.34156501, "kl": 0.0, "clip_ratio/low_mean": 0.0, "clip_ratio/low_min": 0.0, "clip_ratio/high_mean": 0.0, "clip_ratio/high_max": 0.0, "clip_ratio/region_mean": 0.0, "step_time": 93.51167607, "epoch": 0.025, "global_step/max_steps": "1/8", "elapsed_time": "1m 34s", "remaining_time": "11m 0s", "train_speed(s/it)": 94.332334}
{"loss": -0.02127079, "grad_norm": 0.3552196, "learning_rate": 0.0005, "completions/mean_length": 25.375, "completions/min_length": 16.0, "completions/max_length": 26.0, "completions/clipped_ratio": 0.0, "reward": 0.4375, "reward_std": 0.26933756, "frac_reward_zero_std": 0.5, "rewards/VerlAccuracy/mean": 0.4375, "rewards/VerlAccuracy/std": 0.51234752, "kl": 0.00561912, "clip_ratio/low_mean": 0.0, "clip_ratio/low_min": 0.0, "clip_ratio/high_mean": 0.0, "clip_ratio/high_max": 0.0, "clip_ratio/region_mean": 0.0, "step_time": 75.68785851, "epoch": 0.05, "global_step/max_steps": "2/8", "elapsed_time": "2m 51s", "remaining_time": "8m 32s", "train_speed(s/it)": 85.411367}
"""
SWIFT_COMPLETIONS = '{"step": ["1", "1", "1", "1"], "prompt": ["<prompt>", "<prompt>", "<prompt>", "<prompt>"], "completion": ["The largest shape in the picture is red. So its color is yellow. Therefore, the answer is \\\\boxed{yellow}.", "The largest shape in the picture is yellow. So its color is blue. Therefore, the answer is \\\\boxed{blue}.", "The largest shape in the picture is blue. So its color is yellow. Therefore, the answer is \\\\boxed{yellow}.", "The largest shape in the picture is red. Wait, let me check the picture again: the largest shape is indeed red. So its color is red. Therefore, the answer is \\\\boxed{red}."], "VerlAccuracy": [1.0, 0.0, 1.0, 0.0], "advantages": [0.8658754229545593, -0.8658754229545593, 0.8658754229545593, -0.8658754229545593]}'


def test_grpo_curves_from_swift_logs(tmp_path: Path) -> None:
    ckpts = tmp_path / "grpo" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "logging.jsonl").write_text(SWIFT_GRPO_LOG)
    (ckpts / "completions.jsonl").write_text(SWIFT_COMPLETIONS + "\n")
    backend, series = grpo_curves(tmp_path / "grpo")
    assert backend == "swift"
    assert series["reward mean"] == [(1.0, 0.125), (2.0, 0.4375)]
    assert series["accuracy"] == [(1.0, 0.125), (2.0, 0.4375)]  # rewards/VerlAccuracy/mean
    assert series["reward std"] == [(1.0, 0.14433756), (2.0, 0.26933756)]
    assert series["response length"] == [(1.0, 26.0), (2.0, 25.375)]
    assert series["KL"] == [(1.0, 0.0), (2.0, 0.00561912)]
    assert series["clip ratio"] == [(1.0, 0.0), (2.0, 0.0)]
    assert series["reflection share"] == [(1.0, 25.0)]
