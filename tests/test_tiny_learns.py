"""What the tiny run learns, pinned like torchtune pins its losses (slow: the whole tiny pipeline once).

One `bash recipes/tiny.sh` (default seeds: sft.seed 42, grpo.seed 1) scored on the held-in slice
`tiny:heldin` (48 unseen `shape_color` pictures: the colour that fills most of the picture, 4 colours, 11-14
each). Measured 2026-11-27 on the shared 2-core machine, seeds sft/grpo 0/0 and 42/1 (`MEASURED`): base 0.0,
SFT 37.5 on both (the two SFT checkpoints answered alike because ms-swift shuffled both by its default
data_seed 42; `sft.seed` now sets data_seed too, so seed 0 would shuffle differently today; yellow 41 times,
blue 7, so SFT reads the picture only partly), SFT + GRPO
(8 steps, lr 1e-4) 62.5 and 47.9, with group rewards varying in all 8 steps on both seeds. At lr 5e-4 GRPO
fell to 22.9 and 4.2 instead.
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

MEASURED: dict[str, dict[str, float]] = {
    "0/0": {"base": 0.0, "sft": 37.5, "sft_grpo": 62.5},
    "42/1": {"base": 0.0, "sft": 37.5, "sft_grpo": 47.9},
}
"""Seeds (sft.seed/grpo.seed) -> held-in accuracy of base, SFT and SFT + GRPO."""

EXPECTED = {"base": 0.0, "sft": 37.5, "sft_grpo": 47.9}
"""Held-in accuracy of the default seed's run."""

TOLERANCE = {"base": 0.0, "sft": 6.25, "sft_grpo": 16.0}
"""Points each figure may move: 3 items for SFT (its seeds did not differ), GRPO's spread over the seeds
(14.6) and a margin."""

MIN_SFT_GAIN = 30.0
"""Points SFT adds over the base model, at least (measured +37.5 on every seed)."""

MIN_GRPO_GAIN = 4.0
"""Points GRPO adds over the SFT checkpoint, at least (measured +10.4 and +25.0)."""

MIN_VARYING_STEPS = 7
"""GRPO steps (of 8) whose group rewards vary, at least (measured 8 on both seeds)."""


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
