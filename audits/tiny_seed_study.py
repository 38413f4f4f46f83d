"""The tiny world's seed study: the whole tiny pipeline once per (sft.seed, grpo.seed) pair, scored on the
held-in slice (base, SFT, SFT + GRPO), with each run's per-step SFT loss and GRPO reward.

    PYTHONPATH=. python audits/tiny_seed_study.py                      # the five pairs (~7 min each, 2 CPUs)
    PYTHONPATH=. python audits/tiny_seed_study.py --pairs 42/1 42/1    # the default pair twice: the repeat spread

Prints one table row per run, then the spread of each pinned quantity over the runs of the same pair (what
tests/test_tiny_learns.py's tolerances come from), and writes every run's figures to `--json`. The paper's claim
in miniature (base < SFT < SFT + GRPO) is a property of most seed pairs, not of all: this script measures how
many, the test pins only the default pair. docs/testing.md quotes its output."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from evaluation.compare import compare
from evaluation.run import hub_resolver
from recipes.atomic import atomic_write_json
from recipes.pipeline.compose import compose
from recipes.pipeline.curves import grpo_curves, sft_curves
from recipes.pipeline.runner import Runner
from recipes.tiny_world import ensure_tiny_world

PAIRS = ("42/1", "1/1", "7/3", "11/5", "3/2")
"""(sft.seed / grpo.seed) pairs measured since 2026-11-28; the first is the recipes' default."""


def run_pair(sft_seed: int, grpo_seed: int, runs: Path) -> dict[str, Any]:
    """One tiny pipeline with these seeds in `runs`; its held-in accuracies and per-step curves."""
    Runner(compose("tiny", [f"runs_dir={runs}", "eval.benchmarks=[heldin]", f"sft.seed={sft_seed}",
                            f"grpo.seed={grpo_seed}"]), echo=lambda *_: None).run()
    run = runs / "tiny"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    sft_ckpt = manifest["stages"]["sft"]["outputs"]["checkpoint"]
    summary = compare(["base=tiny:model", f"sft={sft_ckpt}", f"sft_grpo={run}"], runs / "compare", preset="tiny",
                      overrides=["benchmarks=[heldin]"], baseline="base", resolve=hub_resolver(offline=True))
    _, grpo = grpo_curves(run / "grpo") or ("", {})
    sft = sft_curves(run / "sft") or {}
    return {"pair": f"{sft_seed}/{grpo_seed}",
            "heldin": {m["label"]: m["accuracy"]["heldin"] for m in summary["models"]},
            "sft_loss": [[s, v] for s, v in sft.get("loss", [])],
            "grpo_reward": [[s, v] for s, v in grpo.get("reward mean", [])],
            "grpo_loss_steps": len(grpo.get("reward mean", []))}


def spread(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Largest difference between runs of one pair: per-step SFT loss, per-step GRPO reward, each accuracy."""
    out: dict[str, float] = {}
    for key in ("sft_loss", "grpo_reward"):
        columns = zip(*[[v for _, v in r[key]] for r in runs], strict=True)
        out[key] = max((max(c) - min(c) for c in columns), default=0.0)
    for label in runs[0]["heldin"]:
        values = [r["heldin"][label] for r in runs]
        out[f"heldin {label}"] = max(values) - min(values)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), help="SFT_SEED/GRPO_SEED (repeat one to measure "
                    "the run-to-run spread)")
    ap.add_argument("--json", type=Path, default=Path("tiny_seed_study.json"), help="where every run's figures go")
    args = ap.parse_args(argv)
    ensure_tiny_world()
    results = []
    print(f"{'pair':>6} {'base':>6} {'SFT':>6} {'SFT+GRPO':>8} {'GRPO gain':>9} {'SFT loss first/last':>20} "
          f"{'GRPO reward per step'}")
    for pair in args.pairs:
        sft_seed, grpo_seed = (int(x) for x in pair.split("/"))
        with tempfile.TemporaryDirectory(prefix="tiny_seed_") as tmp:
            r = run_pair(sft_seed, grpo_seed, Path(tmp))
        results.append(r)
        acc, loss = r["heldin"], [v for _, v in r["sft_loss"]]
        rewards = " ".join(f"{v:.3f}" for _, v in r["grpo_reward"])
        print(f"{r['pair']:>6} {acc['base']:6.2f} {acc['sft']:6.2f} {acc['sft_grpo']:8.2f} "
              f"{acc['sft_grpo'] - acc['sft']:+9.2f} {loss[0]:9.4f}/{loss[-1]:<10.4f} {rewards}", flush=True)
        atomic_write_json(args.json, results)
    rising = sum(r["heldin"]["base"] < r["heldin"]["sft"] < r["heldin"]["sft_grpo"] for r in results)
    print(f"base < SFT < SFT+GRPO on {rising} of {len(results)} runs")
    for pair in dict.fromkeys(r["pair"] for r in results):
        same = [r for r in results if r["pair"] == pair]
        if len(same) > 1:
            print(f"spread over {len(same)} runs of {pair}: "
                  + ", ".join(f"{k} {v:.3g}" for k, v in spread(same).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
