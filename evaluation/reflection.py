"""Reflection ("aha moment") analysis: which responses re-check themselves, and are they more often right?

The paper's claim (2): reflection patterns already exist before RL and do not by themselves go with
better reasoning. `reflection_stats` measures, over predictions rows (or GRPO rollouts), the share of
responses with a reflection pattern and the accuracy with and without one, per benchmark and overall.

`DEFAULT_PATTERNS` (case-insensitive regular expressions, matched anywhere in the response):
- `wait`: the "aha moment" word of DeepSeek-R1's report ("Wait, wait. Wait. That's an aha moment"),
  which the RL-cold-start paper's own analysis of "aha moments" refers to;
- the self-reflection keywords that "Understanding R1-Zero-Like Training" (Liu et al. 2025,
  arXiv 2503.20783) counted in base-model outputs: recheck, rethink, reassess, re-evaluate / reevaluate,
  re-examine, reconsider, reanalyze, double-check, check again, think again, verify again, try again;
- `let me (re)check / verify`: the tiny world's own re-check sentence ("Wait, let me check the picture
  again"), so the miniature shows reflection before RL as the paper reports for Qwen2.5-VL.
Pass `patterns=` (or `--reflection-pattern` on the command lines) to use another list.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict


class Accuracy(TypedDict):
    n: int
    accuracy: float | None


ReflectionSummary = TypedDict("ReflectionSummary", {
    "n": int, "reflection_n": int, "reflection_share": float, "with": Accuracy, "without": Accuracy})
"""Share of responses with a reflection pattern (%), and accuracy with / without one (`with` is a keyword,
hence this form)."""


class Reflection(TypedDict):
    """`reflection_stats`: the patterns, overall and per benchmark (in results.json as `reflection`)."""

    patterns: list[str]
    overall: ReflectionSummary
    benchmarks: dict[str, ReflectionSummary]


DEFAULT_PATTERNS: tuple[str, ...] = (
    r"\bwait\b",
    r"\bre-?check",
    r"\bre-?think",
    r"\bre-?assess",
    r"\bre-?evaluat",
    r"\bre-?examin",
    r"\breconsider",
    r"\bre-?analy[sz]",
    r"\bdouble[- ]?check",
    r"\b(?:check|think|verify|try) again\b",
    r"\blet me (?:re-?)?(?:check|verify)\b",
)
"""Reflection patterns (case-insensitive regexes); see the module docstring for where each comes from."""


def compile_patterns(patterns: Sequence[str] | None = None) -> re.Pattern[str]:
    """One case-insensitive regex matching any of `patterns` (default: `DEFAULT_PATTERNS`); a bad pattern
    raises ValueError naming it."""
    pats = tuple(patterns) if patterns else DEFAULT_PATTERNS
    for p in pats:
        try:
            re.compile(p)
        except re.error as err:
            raise ValueError(f"reflection pattern {p!r} is not a valid regular expression: {err}") from err
    return re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)


def reflection_words(text: str, patterns: Sequence[str] | None = None) -> list[str]:
    """The reflection phrases found in `text`, lower-cased, in order."""
    return [m.group(0).lower() for m in compile_patterns(patterns).finditer(text or "")]


def _cell(flags: list[bool]) -> Accuracy:
    n = len(flags)
    return {"n": n, "accuracy": round(100.0 * sum(flags) / n, 2) if n else None}


def _summary(pairs: list[tuple[bool, bool]]) -> ReflectionSummary:
    """(reflects, correct) pairs -> share with reflection, accuracy with and without it."""
    n = len(pairs)
    with_r = [c for r, c in pairs if r]
    without = [c for r, c in pairs if not r]
    return {"n": n, "reflection_n": len(with_r),
            "reflection_share": round(100.0 * len(with_r) / n, 2) if n else 0.0,
            "with": _cell(with_r), "without": _cell(without)}


def reflection_stats(rows: Iterable[dict[str, Any]], correct: dict[str, bool] | None = None,
                     patterns: Sequence[str] | None = None) -> Reflection:
    """Reflection share and accuracy with / without it, overall and per `benchmark`.

    `rows` are predictions rows (`id`, `benchmark`, `response`) with `correct` (id -> bool) from the
    verdicts, or rollout rows carrying their own `correct` (or `reward` > 0) field. A row without a
    response or a verdict is a ValueError naming the row."""
    rx = compile_patterns(patterns)
    per: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for i, row in enumerate(rows):
        if "response" not in row:
            raise ValueError(f"row {i} (id {row.get('id')!r}): no 'response' field")
        if correct is not None and row.get("id") in correct:
            ok = bool(correct[row["id"]])
        elif "correct" in row:
            ok = bool(row["correct"])
        elif "reward" in row:
            ok = float(row["reward"]) > 0
        else:
            raise ValueError(f"row {i} (id {row.get('id')!r}): no verdict (expected a verdict for its id, or a "
                             "'correct' / 'reward' field)")
        per[str(row.get("benchmark", "all"))].append((bool(rx.search(row.get("response") or "")), ok))
    everything = [p for pairs in per.values() for p in pairs]
    return {"patterns": list(patterns) if patterns else list(DEFAULT_PATTERNS),
            "overall": _summary(everything),
            "benchmarks": {name: _summary(pairs) for name, pairs in per.items()}}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def reflection_markdown(stats: Reflection, title: str = "Reflection") -> str:
    """A small markdown table: per benchmark, share of responses with reflection and accuracy with / without."""
    lines = [f"## {title}", "",
             "Responses with a reflection pattern (`evaluation/reflection.py` DEFAULT_PATTERNS unless configured) "
             "and accuracy with / without one.", "",
             "| benchmark | n | with reflection | accuracy with | accuracy without |", "|---|---|---|---|---|"]
    for name, s in [*stats["benchmarks"].items(), ("all", stats["overall"])]:
        lines.append(f"| {name} | {s['n']} | {s['reflection_share']:.1f}% ({s['reflection_n']}) | "
                     f"{_fmt(s['with']['accuracy'])} | {_fmt(s['without']['accuracy'])} |")
    return "\n".join(lines) + "\n"
