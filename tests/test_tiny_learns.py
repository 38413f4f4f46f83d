"""What the tiny run learns, pinned like torchtune pins its losses (slow: the whole tiny pipeline once).

Measured (one seed, 2026-11-27, heavily shared 2-core machine): on `tiny:heldin` (48 unseen `shape_color`
problems) the base model scores 0.0 (no `\\boxed{}`), the SFT checkpoint 22.9: it learned the format and the
answer vocabulary (every answer a boxed colour) but answers the same colour for every picture, so its
score is that colour's share of the slice. It does not yet read the colour from the pixels. GRPO on top of
it (8 steps, lr 5e-4) had varying rewards every step but only moved the constant answer (25.0): the
expectations "SFT + GRPO > SFT" and "reads the picture" of issue 17 are not met, so not pinned here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluation.compare import compare
from evaluation.run import hub_resolver
from recipes.compose import compose
from recipes.curves import sft_curves
from recipes.runner import Runner
from recipes.tiny_world.images import SHAPE_COLOURS

pytestmark = pytest.mark.slow

MIN_SFT_GAIN = 15.0
"""Points SFT adds over the base model on the held-in slice (measured +22.9 on one seed)."""


@pytest.fixture(scope="module")
def sft_run(tiny_world, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    Runner(compose("tiny", [f"runs_dir={runs}", "ablation=sft_only", "eval.benchmarks=[heldin]"]),
           echo=lambda *_: None).run()
    return runs / "tiny_sft_only"


def test_sft_beats_base_on_the_heldin_slice(sft_run: Path, tmp_path: Path) -> None:
    summary = compare(["base=tiny:model", str(sft_run)], tmp_path, preset="tiny", overrides=["benchmarks=[heldin]"],
                      baseline="base", resolve=hub_resolver(offline=True))
    acc = {m["label"]: m["accuracy"]["heldin"] for m in summary["models"]}
    assert acc["base"] == 0.0 and acc["tiny_sft_only"] - acc["base"] >= MIN_SFT_GAIN, acc
    rows = [json.loads(line) for line in (sft_run / "eval" / "predictions.jsonl").read_text().splitlines()]
    boxed = [re.findall(r"\\boxed\{(\w+)\}", r["response"]) for r in rows]
    assert all(b and b[-1] in SHAPE_COLOURS for b in boxed), [r["response"] for r in rows]


def test_sft_loss_falls(sft_run: Path) -> None:
    series = sft_curves(sft_run / "sft")
    loss = [v for _, v in series["loss"]]
    assert loss[0] > 10 and loss[-1] < 1.5, loss
    assert (sft_run / "curves" / "sft.png").is_file()
