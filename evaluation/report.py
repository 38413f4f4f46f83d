"""Reports: `results.json` (atomic), `results.md` (ours beside the paper's), and a bar chart PNG."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from evaluation.paper_numbers import COLUMNS, PAPER_ROWS
from evaluation.score import TITLES
from recipes.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
PLOT_PNG = "plot.png"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _ours(results: dict[str, Any], key: str = "accuracy") -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for b in COLUMNS:
        entry = results["benchmarks"].get(b)
        if entry is None:
            out[b] = None
        elif key == "judge":
            out[b] = entry["judge"]["accuracy"] if entry.get("judge", {}).get("n") else None
        else:
            out[b] = entry["accuracy"]
    return out


def render_markdown(results: dict[str, Any], label: str) -> str:
    """The headline table (paper rows, then ours), then each benchmark's breakdowns."""
    cols = " | ".join(TITLES[b] for b in COLUMNS)
    lines = [f"# Evaluation of {label}", "",
             f"Scorer: {results['scorer']}. Accuracy in %, items per benchmark in brackets.", "",
             f"| model | {cols} | avg |", "|---|" + "---|" * (len(COLUMNS) + 1)]
    for row in PAPER_ROWS:
        vals = " | ".join(f"{'~' * row.approximate(b)}{row.scores[b]:.1f}" for b in COLUMNS)
        lines.append(f"| {row.label} | {vals} | {'~' * row.approximate('avg')}{row.average:.1f} |")
    ours = _ours(results)
    n_of = {b: results["benchmarks"][b]["n"] for b in results["benchmarks"]}
    vals = " | ".join(f"**{_fmt(ours[b])}** ({n_of[b]})" if ours[b] is not None else "-" for b in COLUMNS)
    lines.append(f"| **ours: {label}** | {vals} | **{_fmt(results['average'])}** |")
    if "judge_average" in results:
        jv = _ours(results, "judge")
        vals = " | ".join(_fmt(jv[b]) for b in COLUMNS)
        lines.append(f"| ours, LLM judge | {vals} | {_fmt(results['judge_average'])} |")
    lines += ["", "`~`: read off the paper's bar chart (+-0.1); others printed in the paper. The paper's "
              "judge protocol is not published (likely an LLM judge); our default is rule-based, the grader "
              "the GRPO reward uses.", ""]
    for entry in results["benchmarks"].values():
        lines.append(f"## {entry['title']}: {entry['accuracy']:.2f} ({entry['correct']}/{entry['n']})")
        for key, cells in entry["breakdown"].items():
            lines += ["", f"| {key} | n | accuracy |", "|---|---|---|"]
            lines += [f"| {k} | {c['n']} | {c['accuracy']:.2f} |" for k, c in cells.items()]
        four = entry.get("four_dimensional")
        if four:
            lines += ["", f"Four-dimensional metrics over {four['groups']} multi-step problems:", "",
                      "| mode | score | IK | IG | CM | RM |", "|---|---|---|---|---|---|"]
            for mode in ("strict", "loose"):
                m = four[mode]
                lines.append(f"| {mode} | {m['score']:.2f} | {m['IK']:.2f} | {m['IG']:.2f} | {m['CM']:.2f} "
                             f"| {m['RM']:.2f} |")
        reasons = ", ".join(f"{k} {v}" for k, v in entry["reasons"].items())
        lines += ["", f"Grader decisions: {reasons}", ""]
    return "\n".join(lines) + "\n"


def render_plot(results: dict[str, Any], label: str) -> bytes:
    """Grouped bars per benchmark (+ avg): the paper's four rows and ours, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [TITLES[b] for b in COLUMNS] + ["avg"]
    series: list[tuple[str, list[float]]] = [
        (row.label, [row.scores[b] for b in COLUMNS] + [row.average]) for row in PAPER_ROWS
    ]
    ours = _ours(results)
    series.append((f"ours: {label}", [ours[b] or 0.0 for b in COLUMNS] + [results["average"]]))
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, vals, width, label=name, hatch="//" if name.startswith("ours") else None)
        ax.bar_label(bars, fmt="%.1f", fontsize=6, padding=1)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{label} vs the paper (rule-based scorer)")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_reports(out_dir: Path, results: dict[str, Any], label: str) -> dict[str, str]:
    """Write the three reports atomically into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    paths = {"results": out_dir / RESULTS_JSON, "report": out_dir / RESULTS_MD, "plot": out_dir / PLOT_PNG}
    atomic_write_json(paths["results"], results)
    atomic_write_text(paths["report"], render_markdown(results, label))
    atomic_write_bytes(paths["plot"], render_plot(results, label))
    log.info("reports written to %s", out_dir)
    return {k: str(v) for k, v in paths.items()}
