"""Put several runs or models side by side: one table and one plot beside the paper's rows.

Inputs are run directories (`runs/<run>`, read through their manifest and `eval/` outputs), local model
directories, hub ids or `tiny:model`, each optionally named `LABEL=REF`. Every input is evaluated with one
eval preset into `<out>/evals/<label>/`; a run's own `eval/predictions.jsonl` is reused when it was made
with the same generation settings (the items it lacks are generated, nothing else), so a compare of
finished runs costs no generation. Writes `compare.md`, `compare.png` and `compare.json` into `<out>`:
accuracy per benchmark, the average over the paper's four, the delta of each against a baseline, and the
reflection share with accuracy with / without reflection (evaluation/reflection.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from evaluation.paper_numbers import COLUMNS, PAPER_ROWS
from evaluation.results import Results
from recipes.ablation import MODEL_PRODUCERS
from recipes.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

COMPARE_MD = "compare.md"
COMPARE_PNG = "compare.png"
COMPARE_JSON = "compare.json"


class CompareError(ValueError):
    """An input that is neither a run directory with a model nor a model reference."""


@dataclass
class Entry:
    """One column of the comparison."""

    label: str
    model: str
    """The model reference evaluated (for a run: the one its eval stage evaluated, else its newest model)."""
    stored: Path | None = None
    """A predictions file made earlier for this model (a run's `eval/predictions.jsonl`)."""
    run_dir: Path | None = None


@dataclass
class Evaluated:
    """An entry's results, as `evaluate` returned them, and how many stored predictions they reused."""

    results: Results
    reused_predictions: int


def _run_model(run_dir: Path, manifest: dict[str, Any]) -> tuple[str | None, Path | None]:
    """(model the run's eval evaluated or would evaluate, its stored predictions if any)."""
    from recipes.stage_outputs import done_outputs

    outputs = done_outputs(manifest)
    pred = run_dir / "eval" / "predictions.jsonl"
    if "eval" in outputs and outputs["eval"].get("model"):
        return str(outputs["eval"]["model"]), pred if pred.is_file() else None
    for stage, key in MODEL_PRODUCERS["eval"]:  # (stage, key) from a table: the untyped read
        made = cast("Mapping[str, Any]", outputs.get(stage, {}))
        if made.get(key):
            return str(made[key]), None
    return None, None


def parse_input(arg: str) -> Entry:
    """`[LABEL=]REF`: a run dir (has manifest.json), a local model dir, a hub id or `tiny:<name>`."""
    label, sep, ref = arg.partition("=")
    if not sep or "/" in label or not label:
        label, ref = "", arg
    path = Path(ref).expanduser()
    manifest_path = path / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise CompareError(f"{manifest_path}: unreadable run manifest ({err})") from err
        model, stored = _run_model(path, manifest)
        if model is None:
            raise CompareError(f"run {path} has no model to compare: none of its eval, merge, grpo or sft stages "
                               "finished (run its eval stage, or pass the model itself)")
        return Entry(label or path.name, model, stored, path)
    if path.exists() and not (path / "config.json").is_file():
        raise CompareError(f"{path}: neither a run directory (no manifest.json) nor a model directory (no config.json)")
    return Entry(label or (path.name if path.exists() else ref), str(path.resolve()) if path.exists() else ref)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "model"


def _same_settings(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k != "model"} == {k: v for k, v in b.items() if k != "model"}


def _seed_from_stored(entry: Entry, work: Path, want: dict[str, Any], item_ids: set[str]) -> int:
    """Copy the stored predictions of `entry` made with `want`'s settings (model aside) into `work`; return
    how many rows were reused (0 when the settings differ or `work` already holds predictions)."""
    from evaluation.generate import read_predictions
    from evaluation.run import PREDICTIONS

    target = work / PREDICTIONS
    if entry.stored is None or target.exists():
        return 0
    rows = read_predictions(entry.stored)
    if not rows or not _same_settings(rows[0].get("settings", {}), want):
        log.info("%s: stored predictions %s were made with other settings; evaluating afresh", entry.label,
                 entry.stored)
        return 0
    keep = [r for r in rows if r["id"] in item_ids]
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
    return len(keep)


def evaluate_entry(entry: Entry, ecfg: Any, out_dir: Path, resolve: Any) -> Evaluated:
    """Evaluate `entry` with `ecfg` into `<out_dir>/evals/<label>/` (reusing what matches)."""
    from dataclasses import asdict

    from evaluation.run import evaluate, load_benchmarks, settings_from

    work = out_dir / "evals" / _slug(entry.label)
    want = asdict(settings_from(ecfg, entry.model))
    reused = 0
    if entry.stored is not None:
        reused = _seed_from_stored(entry, work, want, {it.id for it in load_benchmarks(ecfg, resolve)})
    return Evaluated(evaluate(ecfg, entry.model, work, resolve=resolve, label=entry.label), reused)


def _acc(res: Results, bench: str) -> float | None:
    entry = res["benchmarks"].get(bench)
    return None if entry is None else float(entry["accuracy"])


def _avg4(res: Results) -> float | None:
    vals = [_acc(res, b) for b in COLUMNS]
    vals = [v for v in vals if v is not None]
    return round(sum(vals) / len(vals), 2) if vals else None


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def benchmark_columns(results: Sequence[Results]) -> list[str]:
    """The paper's four (in its order) that any result has, then every other benchmark (e.g. `heldin`)."""
    seen = {b for r in results for b in r["benchmarks"]}
    return [b for b in COLUMNS if b in seen] + sorted(seen - set(COLUMNS))


def render_markdown(labels: Sequence[str], results: Sequence[Results], baseline: str, preset: str) -> str:
    """The comparison table (paper rows first), deltas against `baseline`, and reflection per run (every
    result has `reflection`: evaluate's do, and the report reads other runs' only when they have it)."""
    from evaluation.score import TITLES

    cols = benchmark_columns(results)
    head = " | ".join(TITLES.get(b, b) for b in cols)
    lines = [f"# Comparison ({len(labels)} models, eval preset `{preset}`)", "",
             "Accuracy in %, items per benchmark in brackets; avg over the paper's four benchmarks.", "",
             f"| model | {head} | avg |", "|---|" + "---|" * (len(cols) + 1)]
    for row in PAPER_ROWS:
        vals = " | ".join(f"{'~' * row.approximate(b)}{row.scores[b]:.1f}" if b in row.scores else "-" for b in cols)
        lines.append(f"| {row.label} | {vals} | {'~' * row.approximate('avg')}{row.average:.1f} |")
    for label, res in zip(labels, results, strict=True):
        vals = " | ".join(f"**{_fmt(_acc(res, b))}** ({res['benchmarks'][b]['n']})" if b in res["benchmarks"] else "-"
                          for b in cols)
        lines.append(f"| **{label}** | {vals} | **{_fmt(_avg4(res))}** |")
    base = results[list(labels).index(baseline)]
    lines += ["", f"Delta against `{baseline}` (points):", "", f"| model | {head} | avg |",
              "|---|" + "---|" * (len(cols) + 1)]
    for label, res in zip(labels, results, strict=True):
        if label == baseline:
            continue
        deltas = []
        for b in cols:
            a, z = _acc(res, b), _acc(base, b)
            deltas.append(_fmt(None if a is None or z is None else a - z, signed=True))
        a4, z4 = _avg4(res), _avg4(base)
        lines.append(f"| {label} | {' | '.join(deltas)} | {_fmt(None if a4 is None or z4 is None else a4 - z4, True)} |")
    lines += ["", "Reflection (responses with a reflection pattern, evaluation/reflection.py): share %, then "
              "accuracy with / without reflection.", "", f"| model | {head} | all |",
              "|---|" + "---|" * (len(cols) + 1)]
    for label, res in zip(labels, results, strict=True):
        refl = res["reflection"]
        cells = []
        for s in [refl["benchmarks"].get(b) for b in cols] + [refl["overall"]]:
            cells.append("-" if s is None else f"{s['reflection_share']:.1f}% ({_fmt(s['with']['accuracy'])} / "
                         f"{_fmt(s['without']['accuracy'])})")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += ["", "`~`: read off the paper's bar chart (+-0.1). Each model's own report: `evals/<label>/results.md`.",
              ""]
    return "\n".join(lines)


def render_plot(labels: Sequence[str], results: Sequence[Results], preset: str) -> bytes:
    """Grouped bars per benchmark (+ avg of the paper's four): the paper's rows, then every model; PNG bytes."""
    from evaluation.report import grouped_bars
    from evaluation.score import TITLES

    cols = benchmark_columns(results)
    groups = [TITLES.get(b, b) for b in cols] + ["avg (4)"]
    series: list[tuple[str, list[float], bool]] = [
        (row.label, [row.scores.get(b, 0.0) for b in cols] + [row.average], False) for row in PAPER_ROWS]
    series += [(label, [_acc(res, b) or 0.0 for b in cols] + [_avg4(res) or 0.0], True)
               for label, res in zip(labels, results, strict=True)]
    return grouped_bars(groups, series, f"{len(labels)} models (eval preset {preset}) beside the paper",
                        ylim=105, value_fmt="%.0f")


def compare(inputs: Sequence[str], out_dir: Path, preset: str = "paper", overrides: Sequence[str] = (),
            baseline: str | None = None, resolve: Any = None) -> dict[str, Any]:
    """Evaluate what is missing, then write compare.md / .png / .json into `out_dir`; return the summary."""
    from evaluation.run import hub_resolver
    from recipes.pipeline.compose import compose_eval

    entries = [parse_input(a) for a in inputs]
    labels = [e.label for e in entries]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise CompareError(f"two inputs share the label(s) {dup}; name them with LABEL=REF")
    baseline = baseline or labels[0]
    if baseline not in labels:
        raise CompareError(f"baseline {baseline!r} is not one of the labels {labels}")
    ecfg = compose_eval(preset, list(overrides))
    resolve = resolve or hub_resolver()
    out_dir = Path(out_dir)
    evaluated = []
    for e in entries:
        log.info("compare: %s <- %s", e.label, e.model)
        evaluated.append(evaluate_entry(e, ecfg, out_dir, resolve))
    results = [ev.results for ev in evaluated]  # in memory, as evaluate returned them: no file is read back
    summary: dict[str, Any] = {
        "preset": preset, "overrides": list(overrides), "baseline": baseline,
        "models": [{"label": e.label, "model": e.model, "run_dir": str(e.run_dir) if e.run_dir else None,
                    "reused_predictions": ev.reused_predictions, "average4": _avg4(ev.results),
                    "accuracy": {b: _acc(ev.results, b) for b in benchmark_columns(results)},
                    "reflection": ev.results["reflection"]} for e, ev in zip(entries, evaluated, strict=True)],
    }
    atomic_write_json(out_dir / COMPARE_JSON, summary)
    atomic_write_text(out_dir / COMPARE_MD, render_markdown(labels, results, baseline, preset))
    atomic_write_bytes(out_dir / COMPARE_PNG, render_plot(labels, results, preset))
    summary["paths"] = {k: str(out_dir / v) for k, v in
                        (("markdown", COMPARE_MD), ("plot", COMPARE_PNG), ("json", COMPARE_JSON))}
    return summary


EXAMPLES = """\
settings: key=value, any field of the preset's eval config (evaluation/config.py EvalConfig), as `rlcs evaluate`
takes them (e.g. limit=100 benchmarks=[mathvista]); an argument whose key is not such a field is a
[LABEL=]REF input, so a label cannot be a setting's name (limit, backend, judge, ...).

examples:
  rlcs compare runs/tiny_base runs/tiny_rl_only runs/tiny_sft_only runs/tiny --preset tiny \\
      --out runs/compare_tiny --baseline tiny_base
  rlcs compare base=Qwen/Qwen2.5-VL-7B-Instruct rlcs=WaltonFuture/Qwen2.5VL-7b-RLCS runs/qwen2_5_vl_7b \\
      --out runs/compare_7b --baseline base limit=100
A rerun with the same --out reuses every prediction already made.
"""


def split_settings(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(inputs, overrides): an argument `KEY=VALUE` whose KEY starts with an EvalConfig field is a setting."""
    import dataclasses

    from evaluation.config import EvalConfig

    names = {f.name for f in dataclasses.fields(EvalConfig)}
    overrides = [a for a in args if "=" in a and a.split("=", 1)[0].lstrip("+~").split(".")[0] in names]
    return [a for a in args if a not in overrides], overrides


def main(argv: Sequence[str] | None = None, prog: str = "scripts/compare.py") -> int:
    """`rlcs compare [LABEL=]REF ... [key=value ...] --out DIR [--preset P] [--baseline LABEL]`."""
    import argparse
    import sys

    from recipes.overrides import Alias, aliases_epilog, parse

    set_alias = Alias("--set", ("{}",), metavar="KEY=VALUE")
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     epilog=f"{EXAMPLES}\n{aliases_epilog([set_alias])}",
                                     usage=f"{prog} [LABEL=]REF ... [key=value ...] --out DIR [--preset P] "
                                           "[--baseline LABEL]",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="[LABEL=]REF | key=value",
                        help="run dir, model dir, hub id or tiny:model; and eval settings (below)")
    parser.add_argument("--out", required=True, type=Path, help="output dir (reused to resume)")
    parser.add_argument("--preset", default="paper", help="recipes/conf/eval/<preset>.yaml (paper, tiny, ...)")
    parser.add_argument("--baseline", help="label the deltas are taken against (default: the first input)")
    set_alias.add_to(parser)
    args = parse(parser, argv, [set_alias], dest="inputs")
    inputs, overrides = split_settings(args.inputs)
    if not inputs:
        parser.error("no [LABEL=]REF to compare")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from evaluation.backends import GenerationError
    from evaluation.bench_data import BenchmarkError
    from recipes.hub import HubRefError

    try:
        summary = compare(inputs, args.out, args.preset, overrides, args.baseline)
    except (ValueError, BenchmarkError, GenerationError, HubRefError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((args.out / COMPARE_MD).read_text(encoding="utf-8"))
    for key, path in summary["paths"].items():
        print(f"{key:9s} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
