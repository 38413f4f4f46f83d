"""What the tiny run learns, pinned like torchtune pins its losses (slow: the whole tiny pipeline once).

One `bash recipes/tiny.sh` (default seeds: sft.seed 42, grpo.seed 1) scored on the held-in slice
`tiny:heldin` (48 unseen `shape_color` pictures: the colour that fills most of the picture, 4 colours, the
question in one of 6 phrasings). Measured 2026-11-28 with 4 SFT epochs and GRPO's 8 steps of 4 prompts x 4
responses at lr 2e-5 (tiny world model v3, datasets cold_start v9 / rl v8, heldin v5) over five seed pairs
(sft / grpo 42 / 1, 1 / 1, 7 / 3, 11 / 5, 3 / 2): SFT 70.83 / 35.42 / 37.5 / 54.17 / 93.75, SFT + GRPO
77.08 / 52.08 / 62.5 / 56.25 / 75.0 (README, "The tiny world"). The tolerances are the seed spread, so another
seed or another CPU's arithmetic stays inside them. SFT + GRPO > SFT held on four of the five pairs (not from
sft.seed 3's 93.75) and is asserted for the default pair."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluation.compare import compare
from evaluation.run import hub_resolver
from recipes.pipeline.compose import compose
from recipes.pipeline.curves import grpo_curves, sft_curves
from recipes.pipeline.runner import Runner
from recipes.tiny_world.images import SHAPE_COLOURS

pytestmark = pytest.mark.slow

EXPECTED = {"base": 0.0, "sft": 64.58, "sft_grpo": 64.58}
"""Held-in accuracy: the middle of the five seed pairs' range (see TOLERANCE)."""

TOLERANCE = {"base": 0.0, "sft": 29.2, "sft_grpo": 12.6}
"""Points each figure may move: half the seed spread, rounded up (SFT 35.42 ... 93.75, SFT + GRPO
52.08 ... 77.08)."""

MIN_SFT_GAIN = 30.0
"""Points SFT adds over the base model, at least (measured +35.42 to +93.75)."""

MIN_GRPO_GAIN = 2.0
"""Points GRPO adds to the SFT checkpoint's accuracy with the default seeds, at least: one item of 48
(measured +6.25; the other pairs +16.67, +25.0, +2.08 and -18.75). The paper's claim (1), SFT + GRPO > SFT,
in miniature; from an SFT checkpoint that already reads the colours (93.75) GRPO's noise hurts instead."""

MIN_VARYING_STEPS = 7
"""GRPO steps (of 8) whose 16 rewards vary, at least (measured 8 of 8 with each of the five seed pairs)."""


@pytest.fixture(scope="module")
def tiny_run(tiny_world, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    Runner(compose("tiny", [f"runs_dir={runs}", "eval.benchmarks=[heldin]"]), echo=lambda *_: None).run()
    return runs / "tiny"


def _sft_checkpoint(run: Path) -> str:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return manifest["stages"]["sft"]["outputs"]["checkpoint"]


def test_heldin_accuracy_rises_from_base_to_sft_to_sft_grpo(tiny_run: Path, tmp_path: Path) -> None:
    summary = compare(["base=tiny:model", f"sft={_sft_checkpoint(tiny_run)}", f"sft_grpo={tiny_run}"], tmp_path,
                      preset="tiny", overrides=["benchmarks=[heldin]"], baseline="base",
                      resolve=hub_resolver(offline=True))
    acc = {m["label"]: m["accuracy"]["heldin"] for m in summary["models"]}
    assert acc["sft"] - acc["base"] >= MIN_SFT_GAIN and acc["sft_grpo"] - acc["sft"] >= MIN_GRPO_GAIN, acc
    assert all(abs(acc[k] - v) <= TOLERANCE[k] for k, v in EXPECTED.items()), (acc, EXPECTED)
    rows = [json.loads(line) for line in (tmp_path / "evals" / "sft" / "predictions.jsonl").read_text().splitlines()]
    boxed = [re.findall(r"\\boxed\{(\w+)\}", r["response"]) for r in rows]
    assert all(b and b[-1] in SHAPE_COLOURS for b in boxed), [r["response"] for r in rows]
    assert len({b[-1] for b in boxed}) > 1  # not one colour for every picture


def test_grpo_rewards_vary_within_every_step(tiny_run: Path) -> None:
    backend, series = grpo_curves(tiny_run / "grpo")
    std = [v for _, v in series["reward std"]]
    assert backend == "swift" and len(std) == 8 and sum(s > 0 for s in std) >= MIN_VARYING_STEPS, std
    assert (tiny_run / "curves" / "grpo.png").is_file()


def test_sft_loss_falls(tiny_run: Path) -> None:
    series = sft_curves(tiny_run / "sft")
    loss = [v for _, v in series["loss"]]
    assert loss[0] > 10 and loss[-1] < 1.5, loss
    assert (tiny_run / "curves" / "sft.png").is_file()
