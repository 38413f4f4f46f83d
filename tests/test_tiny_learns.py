"""What the tiny run learns, pinned like torchtune pins its losses (slow: the whole tiny pipeline once).

One `bash recipes/tiny.sh` (default seeds: sft.seed 42, grpo.seed 1) scored on the held-in slice
`tiny:heldin` (48 unseen `shape_color` pictures: the colour that fills most of the picture, 4 colours, the
question in one of 6 phrasings). Measured 2026-11-27 after the phrasings came in (tiny world model v3,
datasets cold_start/rl v8, heldin v5): base 0.0, SFT 100.0, SFT + GRPO 100.0; group rewards varied in 7 of
8 GRPO steps (reward mean 0.38 ... 0.88). Before, with one phrasing: SFT 70.8, SFT + GRPO 66.7. At 100 the
paper's claim (1), SFT + GRPO > SFT, cannot show; this test pins what the run does (base << SFT, GRPO keeps
SFT's accuracy, rewards vary) so that a change to any stage that moves these numbers is seen.
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

EXPECTED = {"base": 0.0, "sft": 100.0, "sft_grpo": 100.0}
"""Held-in accuracy of the default seeds' run (one seed pair: the SFT seed now also sets ms-swift's
data_seed, so earlier seed sweeps, which shuffled alike, do not count)."""

TOLERANCE = {"base": 0.0, "sft": 8.4, "sft_grpo": 12.5}
"""Points each figure may move: 4 items for SFT, 6 for SFT + GRPO (one lr step moved it 8.3)."""

MIN_SFT_GAIN = 30.0
"""Points SFT adds over the base model, at least (measured +100.0; +70.8 with one phrasing)."""

MAX_GRPO_LOSS = 12.5
"""Points GRPO may take off the SFT checkpoint, at most (measured 0.0; -4.2 with one phrasing)."""

MIN_VARYING_STEPS = 7
"""GRPO steps (of 8) whose group rewards vary, at least (measured 7; 8 with one phrasing)."""


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
