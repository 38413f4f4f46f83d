"""Score predictions with the reward's grader (`reward_fns.grader`) and aggregate per benchmark.

Everything here reads only predictions rows (`predictions.jsonl`), so any number can be audited
without a model: `scripts/evaluate.py score predictions.jsonl`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast

from evaluation.fallback import fallback_answer
from evaluation.results import (
    AsReported,
    BenchmarkScores,
    Cell,
    FourDimensional,
    FourDimensionalMode,
    Loading,
    Rate,
    Scores,
)
from reward_fns.grader import extract_answer, grade_answer

SCORER = "rule: reward_fns.grader (last \\boxed{} else <answer>; letters, option texts, numbers, math-verify)"

BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "mathvista": ("question_type", "answer_type"),
    "wemath": ("steps",),
    "mathverse": ("problem_version", "question_type"),
    "mathvision": ("subject", "level"),
}
"""Benchmark -> meta keys whose per-value accuracy is reported."""

TITLES = {"mathvista": "MathVista", "wemath": "We-Math", "mathverse": "MathVerse", "mathvision": "MathVision"}


def strip_unit(pred: str, unit: str | None) -> str:
    """`5 cm`, `5\\text{ cm}`, `5 \\mathrm{cm}` -> `5` when the item's unit is `cm`."""
    if not unit or not pred:
        return pred
    u = re.escape(unit.strip())
    out = re.sub(rf"\s*(?:\\(?:text|mathrm|mbox)\s*\{{\s*{u}\s*\}}|{u})\s*$", "", pred)
    return out.strip() or pred


def _grade(pred: str | None, row: dict[str, Any]) -> tuple[Any, bool, str]:
    """(verdict, correct, reason) of an extracted prediction (a letter naming an option with the gold's text,
    MathVista pid 781, is the grader's own rule: ``choice_letter_same_text``)."""
    if pred is not None:
        pred = strip_unit(pred, row.get("unit"))
    problem = row.get("question") if row.get("answer_kind") == "choice" else None
    v = grade_answer(pred, row["gold"], options=row.get("options"), problem=problem, precision=row.get("precision"))
    return v, bool(v.correct), v.reason


def score_row(row: dict[str, Any], fallback: bool = True) -> dict[str, Any]:
    """Grade one prediction row; returns the verdict fields (pred, correct, reason, no_answer, finish_reason
    and, with `fallback`, the fallback reading of a box-less response)."""
    response = row.get("response") or ""
    pred = extract_answer(response)
    v, correct, reason = _grade(pred, row)
    out = {"id": row["id"], "benchmark": row["benchmark"], "gold": row["gold"], "pred": v.pred,
           "correct": correct, "reason": reason, "pred_letter": v.pred_letter, "no_answer": pred is None,
           "finish_reason": row.get("finish_reason")}
    if fallback:
        out["fallback_pred"], out["fallback_correct"] = v.pred, correct
        if pred is None:
            fb = fallback_answer(response, len(row["options"]) if row.get("options") else None)
            out["fallback_pred"] = fb
            out["fallback_correct"] = fb is not None and _grade(fb, row)[1]
    return out


def _acc(correct: int, n: int) -> float:
    return round(100.0 * correct / n, 2) if n else 0.0


def _cell(flags: Sequence[bool]) -> Cell:
    c = sum(flags)
    return Cell(n=len(flags), correct=c, accuracy=_acc(c, len(flags)))


def _meta_value(row: dict[str, Any], key: str) -> str:
    meta = row.get("meta") or {}
    if key == "steps":  # We-Math: "2steps_multi" -> "2steps"; one-step rows keep their key prefix
        key_value = str(meta.get("key") or "")
        return key_value.split("_")[0] or "unknown"
    value = meta.get(key)
    return "unknown" if value is None else str(value)


def wemath_four_dimensional(rows: Sequence[dict[str, Any]], verdicts: dict[str, bool]) -> FourDimensional | None:
    """We-Math's four-dimensional metrics (IK, IG, CM, RM; strict and loose), as its official script
    computes them: a multi-step problem (same `ID`, keys `Nsteps_1..N` and `Nsteps_multi`) is
    CM when its sub-problems and the composite are right, IG when the sub-problems are right but not
    the composite, IK when a sub-problem and the composite are wrong, RM when the composite is right
    but a sub-problem wrong (strict) / all sub-problems wrong (loose). Score = (N - 0.5 IG - RM - IK) / N
    over the N complete groups (the official script fixes N = 525, the full testmini). None when the
    predictions hold no complete group."""
    groups: dict[tuple[str, int], dict[str, bool]] = defaultdict(dict)
    for row in rows:
        meta = row.get("meta") or {}
        m = re.fullmatch(r"(\d)steps_(\d|multi)", str(meta.get("key") or ""))
        if not m:
            continue
        groups[(str(meta.get("group")), int(m.group(1)))][m.group(2)] = verdicts[row["id"]]
    counts = Counter(dict.fromkeys(("CM_strict", "CM_loose", "IG", "IK", "RM_strict", "RM_loose"), 0))
    n = 0
    for (_, steps), parts in groups.items():
        subs = [parts.get(str(i)) for i in range(1, steps + 1)]
        if "multi" not in parts or any(s is None for s in subs):
            continue
        n += 1
        multi = parts["multi"]
        all_sub, any_sub = all(subs), any(subs)
        if multi:
            counts["CM_strict"] += all_sub
            counts["CM_loose"] += any_sub
            counts["RM_strict"] += not all_sub
            counts["RM_loose"] += not any_sub
        else:
            counts["IG"] += all_sub
            counts["IK"] += not all_sub
    if n == 0:
        return None
    modes = {}
    for mode in ("strict", "loose"):
        rm, cm = counts[f"RM_{mode}"], counts[f"CM_{mode}"]
        modes[mode] = FourDimensionalMode(
            score=_acc(n - 0.5 * counts["IG"] - rm - counts["IK"], n),
            IK=_acc(counts["IK"], n), IG=_acc(counts["IG"], n), CM=_acc(cm, n),
            RM=_acc(rm, rm + cm) if rm + cm else 0.0,  # the official rate: RM / (RM + CM)
        )
    return FourDimensional(groups=n, counts=dict(sorted(counts.items())), strict=modes["strict"],
                           loose=modes["loose"])


MATHVERSE_VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only")
"""The five versions of MathVerse testmini (788 problems each; `Text Only` is a separate set)."""


def mathverse_as_reported(rows: Sequence[dict[str, Any]], verdicts: dict[str, bool]) -> AsReported | None:
    """MathVerse as it is quoted: the authors' overall score over all five versions (README: 788 x 5 items)
    and, beside it, Vision Only (many leaderboards and papers quote that one). None without such rows."""
    by_version: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_version[_meta_value(row, "problem_version")].append(verdicts[row["id"]])
    five = [f for v in MATHVERSE_VERSIONS for f in by_version.get(v, [])]
    if not five:
        return None
    return AsReported(all_five=_cell(five), vision_only=_cell(by_version.get("Vision Only", [])),
                      versions={v: _cell(by_version[v]) for v in MATHVERSE_VERSIONS if v in by_version})


def _rate(count: int, n: int) -> Rate:
    return Rate(count=count, rate=_acc(count, n))


def _generation_cells(brows: Sequence[dict[str, Any]], bverdicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """No-answer and truncation rates (%, of the benchmark's items) and mean token counts."""
    n = len(brows)
    known = [r for r in brows if r.get("finish_reason") is not None]
    out: dict[str, Any] = {
        "no_answer": _rate(sum(bool(v.get("no_answer")) for v in bverdicts), n),
        "truncated": _rate(sum(r.get("finish_reason") == "length" for r in known), n) if known else None,
    }
    for key in ("prompt_tokens", "completion_tokens"):
        vals = [r[key] for r in brows if isinstance(r.get(key), int)]
        out[f"mean_{key}"] = round(sum(vals) / len(vals), 1) if vals else None
    return out


def loading_summary(rows: Sequence[dict[str, Any]], skipped: Sequence[dict[str, Any]]) -> dict[str, Loading]:
    """Per benchmark: items built, official rows skipped (with why), items kept with a load note."""
    out: dict[str, Loading] = {}
    for row in rows:
        cell = out.setdefault(row["benchmark"], Loading(items=0, skipped=0, degraded=0))
        cell["items"] += 1
        cell["degraded"] += bool((row.get("meta") or {}).get("load_note"))
    for s in skipped:
        out.setdefault(s["benchmark"], Loading(items=0, skipped=0, degraded=0))["skipped"] += 1
    return dict(sorted(out.items()))


def aggregate(rows: Sequence[dict[str, Any]], verdicts: Sequence[dict[str, Any]],
              judged: dict[str, bool] | None = None, skipped: Sequence[dict[str, Any]] = ()) -> Scores:
    """Per-benchmark accuracy (%, 2 decimals), no-answer / truncation rates, the fallback column,
    breakdowns, grader reasons (whatever names the grader uses), and the mean over benchmarks."""
    by_id = {v["id"]: v["correct"] for v in verdicts}
    vby_id = {v["id"]: v for v in verdicts}
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        per[row["benchmark"]].append(row)
    reasons: dict[str, Counter] = defaultdict(Counter)
    for v in verdicts:
        reasons[v["benchmark"]][v["reason"].split(":")[0]] += 1
    benchmarks: dict[str, BenchmarkScores] = {}
    for name in sorted(per, key=lambda b: list(TITLES).index(b) if b in TITLES else 99):
        brows = per[name]
        bverdicts = [vby_id[r["id"]] for r in brows]
        flags = [by_id[r["id"]] for r in brows]
        entry: dict[str, Any] = {"title": TITLES.get(name, name), **_cell(flags),
                                 **_generation_cells(brows, bverdicts), "breakdown": {}}
        if all("fallback_correct" in v for v in bverdicts):
            entry["fallback"] = _cell([bool(v["fallback_correct"]) for v in bverdicts])
        for key in BREAKDOWNS.get(name, ()):
            groups: dict[str, list[bool]] = defaultdict(list)
            for r in brows:
                groups[_meta_value(r, key)].append(by_id[r["id"]])
            entry["breakdown"][key] = {k: _cell(v) for k, v in sorted(groups.items())}
        if name == "mathverse":
            reported = mathverse_as_reported(brows, by_id)
            if reported:
                entry["as_reported"] = reported
        if name == "wemath":
            four = wemath_four_dimensional(brows, by_id)
            if four is not None:
                entry["four_dimensional"] = four
            if judged is not None:
                jfour = wemath_four_dimensional([r for r in brows if r["id"] in judged], judged)
                if jfour is not None:
                    entry["four_dimensional_judge"] = jfour
        entry["reasons"] = dict(sorted(reasons[name].items()))
        if judged is not None:
            jflags = [judged[r["id"]] for r in brows if r["id"] in judged]
            entry["judge"] = _cell(jflags)
        benchmarks[name] = cast(BenchmarkScores, entry)  # built key by key, in results.json's order
    # the paper's average is over its four benchmarks: a held-in slice (tiny world) is no part of it
    accs = [b["accuracy"] for name, b in benchmarks.items() if name in TITLES]
    out = Scores(
        scorer=SCORER,
        benchmarks=benchmarks,
        average=round(sum(accs) / len(accs), 2) if accs else None,
        average_over=[name for name in benchmarks if name in TITLES],
        n=len(rows),
        loading=loading_summary(rows, skipped),
        skipped=list(skipped),
    )
    if judged is not None:
        jaccs = [b["judge"]["accuracy"] for name, b in benchmarks.items() if name in TITLES and b["judge"]["n"]]
        out["judge_average"] = round(sum(jaccs) / len(jaccs), 2) if jaccs else None
    return out


def score_rows(rows: Iterable[dict[str, Any]], fallback: bool = True
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, per-item verdicts); the verdicts are deterministic functions of the rows."""
    rows = list(rows)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        for key in ("id", "benchmark", "gold", "response"):
            if key not in row:
                raise ValueError(f"predictions row {i}: missing field {key!r}")
        if row["id"] in seen:
            raise ValueError(f"predictions row {i}: duplicate id {row['id']!r}")
        seen.add(row["id"])
    return rows, [score_row(r, fallback) for r in rows]
