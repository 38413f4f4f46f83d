"""Figures of a verl run read from its console log (`step:N - key:value - ...`, verl's console logger)."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from typing import Any

_STEP_LINE = re.compile(r"(?:^|\s)step:(\d+) - (.*)$")

KEYS = {
    "reward_mean": "critic/score/mean",
    "step_s": "timing_s/step",
    "tokens_per_s_per_gpu": "perf/throughput",
    "tokens": "perf/total_num_tokens",
    "actor_peak_gb": "perf/max_memory_allocated_gb",
}
"""Our name -> verl 0.9.1 metric key."""


def parse_steps(lines: Iterable[str]) -> list[dict[str, float]]:
    """One dict per training step (validation-only lines at step 0 are kept apart by `step`)."""
    steps: dict[int, dict[str, float]] = {}
    for line in lines:
        m = _STEP_LINE.search(line.rstrip("\n"))
        if not m:
            continue
        metrics = steps.setdefault(int(m.group(1)), {"step": float(m.group(1))})
        for part in m.group(2).split(" - "):
            key, sep, value = part.rpartition(":")
            if not sep:
                continue
            try:
                metrics[key.strip()] = float(value)
            except ValueError:
                continue
    return [steps[k] for k in sorted(steps)]


def summarize(steps: list[dict[str, float]]) -> dict[str, Any]:
    """Per-step reward means and step times, and the steady-state (after the first step) averages."""
    train = [s for s in steps if KEYS["step_s"] in s]
    if not train:
        raise ValueError("no training step lines (step:N - timing_s/step:...) in the log")
    col = {name: [s.get(key, math.nan) for s in train] for name, key in KEYS.items()}
    steady = train[1:] or train
    return {
        "steps": len(train),
        "reward_mean_per_step": col["reward_mean"],
        "step_s_per_step": col["step_s"],
        "mean_step_s_after_first": statistics.fmean(s[KEYS["step_s"]] for s in steady),
        "tokens_per_s_per_gpu_after_first": statistics.fmean(s.get(KEYS["tokens_per_s_per_gpu"], math.nan)
                                                            for s in steady),
        "actor_peak_gb": max(col["actor_peak_gb"]),
    }
