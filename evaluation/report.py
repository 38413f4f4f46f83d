"""Reports of one `Results` (evaluation/results.py): `results.json` (atomic), `results.md` (ours beside the
paper's), and a bar chart PNG."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evaluation.paper_numbers import COLUMNS, PAPER_ROWS
from evaluation.reflection import reflection_markdown
from evaluation.results import RESULTS_JSON, FourDimensional, Results, save
from evaluation.score import TITLES
from recipes.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

RESULTS_MD = "results.md"
PLOT_PNG = "plot.png"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _ours(results: Results, key: str = "accuracy") -> dict[str, float | None]:
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


def _pct(cell: Mapping[str, Any] | None, key: str = "rate") -> str:
    return "-" if not cell else f"{cell[key]:.1f}"


def _protocol(results: Results) -> str:
    """One line naming the preset and the settings every prediction was made with."""
    s = results.get("settings") or {}
    if not s:
        return f"Preset: {results.get('preset') or '-'}."
    decoding = "greedy" if not s.get("temperature") else f"temperature {s['temperature']}, top_p {s.get('top_p')}"
    suffix = f' + "{s["user_suffix"]}"' if s.get("user_suffix") else ""
    return (f"Preset: **{results.get('preset') or '-'}**: system \"{s.get('system_prompt')}\", user = image + "
            f"question{suffix}, {decoding} (seed {s.get('seed')}), "
            f"{s.get('max_new_tokens')} new tokens, pixels per image {s.get('min_pixels')}..{s.get('max_pixels')}.")


def _beside_table(results: Results) -> list[str]:
    """Per benchmark: accuracy beside no-answer and truncation rates, fallback and judge accuracy, loading."""
    loading = results.get("loading") or {}
    lines = ["| benchmark | items | accuracy | no answer % | truncated % | fallback accuracy¹ | LLM judge "
             "| skipped rows | kept, note² |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in results["benchmarks"].items():
        load = loading.get(name, {})
        label = f"{e['title']} (per-item)" if name == "wemath" else e["title"]
        lines.append(f"| {label} | {e['n']} | {e['accuracy']:.2f} | {_pct(e.get('no_answer'))} "
                     f"| {_pct(e.get('truncated'))} | {_pct(e.get('fallback'), 'accuracy')} "
                     f"| {_pct(e.get('judge') if (e.get('judge') or {}).get('n') else None, 'accuracy')} "
                     f"| {load.get('skipped', 0)} | {load.get('degraded', 0)} |")
    lines += ["", "¹ box-less responses read by \"the answer is X\" / a final option letter; never in the headline. "
              "² options not parseable: shown verbatim, graded by letter. Truncated: stopped at the token budget.", ""]
    return lines


def _four_table(four: FourDimensional, title: str) -> list[str]:
    lines = ["", f"{title} over {four['groups']} multi-step problems (the official script's formulas):", "",
             "| mode | score | IK | IG | CM | RM |", "|---|---|---|---|---|---|"]
    for mode in ("strict", "loose"):
        m = four[mode]
        lines.append(f"| {mode} | {m['score']:.2f} | {m['IK']:.2f} | {m['IG']:.2f} | {m['CM']:.2f} | {m['RM']:.2f} |")
    return lines


def render_markdown(results: Results, label: str) -> str:
    """The headline table (paper rows, then ours), the rates beside it, then each benchmark's breakdowns."""
    cols = " | ".join(TITLES[b] for b in COLUMNS)
    lines = [f"# Evaluation of {label}", "", _protocol(results), "",
             f"Scorer: {results['scorer']}. Accuracy in %, items per benchmark in brackets; We-Math: per-item "
             "accuracy (strict and loose scores below).", "",
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
              "judge protocol is not published (likely an LLM judge); our headline is rule-based, the grader "
              "the GRPO reward uses.", ""]
    lines += _beside_table(results)
    skipped = results.get("skipped") or []
    if skipped:
        lines += [f"Official rows that could not become items ({len(skipped)}):", "",
                  "| benchmark | row | id | why |", "|---|---|---|---|"]
        lines += [f"| {s['benchmark']} | {s['row']} | {s['id']} | {s['why']} |" for s in skipped[:50]]
        lines.append("")
    if results.get("reflection"):
        lines.append(reflection_markdown(results["reflection"]))
    for entry in results["benchmarks"].values():
        lines.append(f"## {entry['title']}: {entry['accuracy']:.2f} ({entry['correct']}/{entry['n']})")
        for key, cells in entry["breakdown"].items():
            lines += ["", f"| {key} | n | accuracy |", "|---|---|---|"]
            lines += [f"| {k} | {c['n']} | {c['accuracy']:.2f} |" for k, c in cells.items()]
        if entry.get("as_reported"):
            rep = entry["as_reported"]
            lines += ["", f"MathVerse as quoted: all five versions (the authors' overall) "
                      f"{rep['all_five']['accuracy']:.2f} ({rep['all_five']['correct']}/{rep['all_five']['n']}) | "
                      f"Vision Only {rep['vision_only']['accuracy']:.2f} ({rep['vision_only']['n']})."]
        if entry.get("four_dimensional"):
            four = entry["four_dimensional"]
            lines += ["", f"We-Math side by side: per-item accuracy {entry['accuracy']:.2f} | strict score "
                      f"{four['strict']['score']:.2f} | loose score {four['loose']['score']:.2f}."]
            lines += _four_table(four, "Four-dimensional metrics (rule verdicts)")
        if entry.get("four_dimensional_judge"):
            lines += _four_table(entry["four_dimensional_judge"], "Four-dimensional metrics (LLM-judge verdicts)")
        reasons = ", ".join(f"{k} {v}" for k, v in entry["reasons"].items())
        lines += ["", f"Grader decisions: {reasons}", ""]
    return "\n".join(lines) + "\n"


def grouped_bars(groups: list[str], series: list[tuple[str, list[float], bool]], title: str,
                 ylim: float = 100, value_fmt: str = "%.1f") -> bytes:
    """One bar per series in each group, ours hatched (`series`: name, values, is-ours); PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(11, 1.6 * len(groups) * len(series) / 4), 4.8))
    width = 0.85 / len(series)
    for i, (name, vals, ours) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, vals, width, label=name, hatch="//" if ours else None, alpha=1.0 if ours else 0.6)
        ax.bar_label(bars, fmt=value_fmt, fontsize=5 if len(series) > 6 else 6, padding=1)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, ylim)
    ax.set_title(title)
    ax.legend(fontsize=6 if len(series) > 6 else 7, ncol=3, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def render_plot(results: Results, label: str) -> bytes:
    """Grouped bars per benchmark (+ avg): the paper's four rows and ours, as PNG bytes."""
    groups = [TITLES[b] for b in COLUMNS] + ["avg"]
    series = [(row.label, [row.scores[b] for b in COLUMNS] + [row.average], False) for row in PAPER_ROWS]
    ours = _ours(results)
    series.append((f"ours: {label}", [ours[b] or 0.0 for b in COLUMNS] + [results["average"] or 0.0], True))
    return grouped_bars(groups, series, f"{label} vs the paper (rule-based scorer)")


def write_reports(out_dir: Path, results: Results, label: str) -> dict[str, str]:
    """Write the three reports atomically into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    paths = {"results": out_dir / RESULTS_JSON, "report": out_dir / RESULTS_MD, "plot": out_dir / PLOT_PNG}
    save(paths["results"], results)
    atomic_write_text(paths["report"], render_markdown(results, label))
    atomic_write_bytes(paths["plot"], render_plot(results, label))
    log.info("reports written to %s", out_dir)
    return {k: str(v) for k, v in paths.items()}
