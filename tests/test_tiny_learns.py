"""What the tiny run learns, pinned like torchtune pins its losses (slow: the whole tiny pipeline once).

One `bash recipes/tiny.sh` (default seeds: sft.seed 42, grpo.seed 1) scored on the held-in slice
`tiny:heldin` (48 unseen `shape_color` pictures: the colour that fills most of the picture, 4 colours, the
question in one of 6 phrasings). Measured 2026-11-27 with SFT cut to 3.75 epochs (tiny world model v3,
datasets cold_start/rl v8, heldin v5): base 0.0, SFT 93.75 (3 red pictures called green), SFT + GRPO 95.83
(one of them fixed); group rewards varied in 7 of 8 GRPO steps (reward mean 0.0 ... 0.62). The paper's
claim (1) shows for these seeds only, and by one item: other seed pairs put SFT anywhere from 20.8 to
93.75 (sft.seed 1: every picture called blue), and GRPO never lowered SFT (README, "The tiny world").
A run is deterministic on one machine, so the tolerances are small: they pin the default seeds' run.
"""

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

EXPECTED = {"base": 0.0, "sft": 93.75, "sft_grpo": 95.83}
"""Held-in accuracy of the default seeds' run (sft.seed 1 / grpo.seed 2 and 7 / 3 give 0.0, 20.83, 20.83)."""

TOLERANCE = {"base": 0.0, "sft": 4.2, "sft_grpo": 4.2}
"""Points each figure may move: 2 items. Not the seed spread (73 points for SFT, see the docstring): these pin
the default seeds' run, which is deterministic on one machine; 2 items allow for another CPU's arithmetic."""

MIN_SFT_GAIN = 30.0
"""Points SFT adds over the base model, at least (measured +93.75; +20.83 with the other two seed pairs)."""

MAX_GRPO_LOSS = 0.0
"""Points GRPO may take off the SFT checkpoint, at most: none (measured +2.08 with the default seeds, 0.0 with
the other two pairs, so SFT + GRPO > SFT is not asserted; -4.2 with one phrasing)."""

MIN_VARYING_STEPS = 6
"""GRPO steps (of 8) whose group rewards vary, at least (measured 7 with each of the three seed pairs)."""


@pytest.fixture(scope="module")
def tiny_run(tiny_world, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    Runner(compose("tiny", [f"runs_dir={runs}", "eval.benchmarks=[heldin]"]), echo=lambda *_: None).run()
    return runs / "tiny"


def _sft_checkpoint(run: Path) -> str:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return manifest["stages"]["sft"]["outputs"]["checkpoint"]


def test_heldin_accuracy_rises_from_base_to_sft_to_grpo(tiny_run: Path, tmp_path: Path) -> None:
    summary = compare(["base=tiny:model", f"sft={_sft_checkpoint(tiny_run)}", f"sft_grpo={tiny_run}"], tmp_path,
                      preset="tiny", overrides=["benchmarks=[heldin]"], baseline="base",
                      resolve=hub_resolver(offline=True))
    acc = {m["label"]: m["accuracy"]["heldin"] for m in summary["models"]}
    assert acc["sft"] - acc["base"] >= MIN_SFT_GAIN and acc["sft"] - acc["sft_grpo"] <= MAX_GRPO_LOSS, acc
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
