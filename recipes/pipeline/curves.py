"""Training curves of a run, read from what ms-swift and verl already write, drawn as one PNG per stage.

GRPO: reward mean, accuracy, response length, clip ratio, KL and the reflection share of the rollouts per
step, from ms-swift's `logging.jsonl` (+ `completions.jsonl` when `log_completions` is on) or verl's
console log (`step:N - key:value ...`, GRPO/verl_metrics.py) (+ `trainer.rollout_data_dir` dumps).
SFT: loss and token accuracy (train and eval) from ms-swift's `logging.jsonl`.
`write_run_curves(run_dir)` writes `<run>/curves/{grpo,sft}.png` and `.json`; the runner's summary links them.
"""

from __future__ import annotations

import io
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recipes.atomic import atomic_write_bytes, atomic_write_json, read_jsonl

log = logging.getLogger(__name__)

Series = dict[str, list[tuple[float, float]]]
"""Curve name -> (step, value) points in step order."""

GRPO_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "swift": {
        "reward mean": ("reward",),
        "accuracy": (r"rewards/.*acc.*/mean",),
        "reward std": ("reward_std",),
        "response length": ("completions/mean_length",),
        "clip ratio": ("clip_ratio/region_mean", "completions/clipped_ratio"),
        "KL": ("kl",),
    },
    "verl": {
        "reward mean": ("critic/score/mean",),
        "accuracy": (r"critic/rewards/mean", r"reward_extra_infos/acc.*"),
        "response length": ("response_length/mean",),
        "clip ratio": ("actor/pg_clipfrac", "response_length/clip_ratio"),
        "KL": ("actor/kl_loss", "actor/ppo_kl"),
    },
}
"""Backend -> curve -> metric keys (case-insensitive regexes, first found wins): ms-swift 4.6 GRPO (its
accuracy is `rewards/<ORM class>/mean`, e.g. `rewards/RLCSAccuracy/mean`) and verl 0.9.1 names."""

SFT_KEYS: dict[str, tuple[str, ...]] = {
    "loss": ("loss",), "token accuracy": ("token_acc",), "eval loss": ("eval_loss",),
    "eval token accuracy": ("eval_token_acc",),
}


def swift_log_steps(path: Path) -> list[dict[str, Any]]:
    """ms-swift's `logging.jsonl` rows with a numeric `step` (from its `global_step/max_steps: "N/M"`)."""
    out = []
    for row in read_jsonl(path):
        gs = str(row.get("global_step/max_steps", ""))
        if "/" in gs:
            out.append({**row, "step": float(gs.split("/")[0])})
    return out


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for pattern in keys:
        for key, value in row.items():
            if re.fullmatch(pattern, key, re.IGNORECASE) and isinstance(value, (int, float)):
                return float(value)
    return None


def series_of(steps: Iterable[dict[str, Any]], keys: dict[str, tuple[str, ...]]) -> Series:
    """Curves named in `keys` from per-step metric dicts (each with a `step`)."""
    out: Series = defaultdict(list)
    for row in steps:
        for name, candidates in keys.items():
            value = _pick(row, candidates)
            if value is not None:
                out[name].append((float(row["step"]), value))
    return {k: sorted(v) for k, v in out.items()}


def _rollouts_swift(path: Path) -> list[dict[str, Any]]:
    """ms-swift's completions.jsonl (one dict of columns per logged step) as rows with step, response, reward."""
    rows = []
    for table in read_jsonl(path):
        tables = table if isinstance(table, list) else [table]
        for t in tables:
            if isinstance(t, dict) and isinstance(t.get("completion"), list):
                acc_key = next((k for k in t if re.search(r"acc", k, re.IGNORECASE) and isinstance(t[k], list)), None)
                for i, text in enumerate(t["completion"]):
                    step = t.get("step", [0] * len(t["completion"]))[i]
                    reward = t[acc_key][i] if acc_key else None
                    rows.append({"step": float(step), "response": str(text), "reward": reward})
            elif isinstance(t, dict) and "completion" in t:
                rows.append({"step": float(t.get("step", 0)), "response": str(t["completion"]),
                             "reward": t.get("rlcs_accuracy", t.get("reward"))})
    return rows


def _rollouts_verl(folder: Path) -> list[dict[str, Any]]:
    """verl's `trainer.rollout_data_dir` dumps (`<step>.jsonl`, rows with output, score, step)."""
    rows = []
    for f in sorted(folder.glob("*.jsonl")):
        for r in read_jsonl(f):
            if "output" in r:
                rows.append({"step": float(r.get("step", f.stem if f.stem.isdigit() else 0)),
                             "response": str(r["output"]), "reward": r.get("score")})
    return rows


def reflection_series(rollouts: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Per step, the % of rollouts with a reflection pattern (evaluation/reflection.py)."""
    from evaluation.reflection import compile_patterns

    rx = compile_patterns()
    per: dict[float, list[bool]] = defaultdict(list)
    for r in rollouts:
        per[r["step"]].append(bool(rx.search(r["response"])))
    return [(s, 100.0 * sum(v) / len(v)) for s, v in sorted(per.items())]


def grpo_curves(stage_dir: Path) -> tuple[str, Series] | None:
    """(backend, curves) of a grpo stage dir, or None when it holds no step log yet."""
    stage_dir = Path(stage_dir)
    swift_log = stage_dir / "checkpoints" / "logging.jsonl"
    if swift_log.is_file():
        series = series_of([r for r in swift_log_steps(swift_log) if "reward" in r], GRPO_KEYS["swift"])
        comp = stage_dir / "checkpoints" / "completions.jsonl"
        if comp.is_file():
            series["reflection share"] = reflection_series(_rollouts_swift(comp))
        return "swift", series
    console = stage_dir / "log.txt"
    if console.is_file():
        from GRPO.verl_metrics import parse_steps

        with open(console, encoding="utf-8", errors="replace") as f:
            steps = parse_steps(f)
        if steps:
            series = series_of(steps, GRPO_KEYS["verl"])
            dumps = stage_dir / "rollouts"
            if dumps.is_dir():
                series["reflection share"] = reflection_series(_rollouts_verl(dumps))
            return "verl", series
    return None


def sft_curves(stage_dir: Path) -> Series | None:
    """Loss and token accuracy of an sft stage dir (ms-swift `output/logging.jsonl`), or None."""
    path = Path(stage_dir) / "output" / "logging.jsonl"
    return series_of(swift_log_steps(path), SFT_KEYS) if path.is_file() else None


def plot(series: Series, title: str) -> bytes:
    """One small panel per curve (step on x), PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, pts in series.items() if pts]
    cols = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        xs, ys = zip(*series[name], strict=True)
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write_run_curves(run_dir: Path) -> dict[str, str]:
    """Write `<run>/curves/grpo.png|json` and `sft.png|json` for the stages that logged steps; return paths."""
    run_dir = Path(run_dir)
    out: dict[str, str] = {}
    found: dict[str, tuple[str, Series]] = {}
    grpo = grpo_curves(run_dir / "grpo")
    if grpo and any(grpo[1].values()):
        found["grpo"] = (f"GRPO ({grpo[0]}) of run {run_dir.name}", grpo[1])
    sft = sft_curves(run_dir / "sft")
    if sft and any(sft.values()):
        found["sft"] = (f"SFT of run {run_dir.name}", sft)
    for stage, (title, series) in found.items():
        png = run_dir / "curves" / f"{stage}.png"
        atomic_write_bytes(png, plot(series, title))
        atomic_write_json(png.with_suffix(".json"), {k: [list(p) for p in v] for k, v in series.items()})
        out[stage] = str(png)
    return out
