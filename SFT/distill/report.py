"""The distillation report: per source and overall, what went in, what was kept, and why the rest was not."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from SFT.distill.judge import REASONS


@dataclass
class SampleResult:
    sample: int
    tokens: int
    reason: str
    """`ok` or a rejection reason."""
    kept: bool = False


@dataclass
class ProblemResult:
    source: str
    row: int
    samples: list[SampleResult] = field(default_factory=list)


def _quantiles(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def q(p: float) -> int:
        return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]

    return {"n": len(v), "min": v[0], "p10": q(0.1), "p50": q(0.5), "p90": q(0.9), "max": v[-1],
            "mean": round(sum(v) / len(v), 1)}


def stats(results: list[ProblemResult], k: int, bad_rows: int = 0) -> dict[str, Any]:
    """Counts for one group of problems: problems in / with a kept response, responses, acceptance rate
    overall and per k (share of problems with an accepted response among their first j samples),
    length distributions (tokens) and rejection reasons."""
    samples = [s for r in results for s in r.samples]
    accepted = [s for s in samples if s.reason == "ok"]
    kept = [s for s in samples if s.kept]
    n = len(results)
    per_k = {}
    for j in range(1, k + 1):
        hit = sum(any(s.reason == "ok" for s in r.samples if s.sample < j) for r in results)
        per_k[j] = round(hit / n, 4) if n else None
    reasons = Counter(s.reason for s in samples if s.reason != "ok")
    return {
        "problems_in": n + bad_rows, "bad_rows": bad_rows, "problems_sampled": n,
        "problems_with_kept": sum(any(s.kept for s in r.samples) for r in results),
        "responses": len(samples), "accepted": len(accepted), "kept": len(kept),
        "acceptance_rate": round(len(accepted) / len(samples), 4) if samples else None,
        "problems_accepted_by_k": per_k,
        "rejections": {r: reasons.get(r, 0) for r in REASONS},
        "tokens_all": _quantiles([s.tokens for s in samples]),
        "tokens_kept": _quantiles([s.tokens for s in kept]),
    }


def build_report(results: list[ProblemResult], k: int, bad_rows: dict[str, int], sources: list[str],
                 meta: dict[str, Any]) -> dict[str, Any]:
    """Stats per source (in the configured order) and overall, plus `meta` (teacher, settings, timing)."""
    by_source = {s: stats([r for r in results if r.source == s], k, bad_rows.get(s, 0)) for s in sources}
    return {**meta, "sources": by_source, "overall": stats(results, k, sum(bad_rows.values()))}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _tok(d: dict[str, Any]) -> str:
    if not d.get("n"):
        return "-"
    return f"{d['min']} / {d['p10']} / {d['p50']} / {d['p90']} / {d['max']} (mean {d['mean']})"


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown: one column per source plus the overall one."""
    groups = [*report["sources"].items(), ("overall", report["overall"])]
    k = report["settings"]["k"]
    head = "| | " + " | ".join(f"`{name}`" for name, _ in groups) + " |"
    lines = [
        f"# Distillation report: {report['teacher']}",
        "",
        f"Template `{report['settings']['template']}`, k={k}, temperature {report['settings']['temperature']}, "
        f"top_p {report['settings']['top_p']}, max_new_tokens {report['settings']['max_new_tokens']}, keep "
        f"{report['settings']['keep']} (m={report['settings']['max_per_problem']}); backend "
        f"{report.get('backend') or '-'}; {report.get('seconds', 0)} s in all, generation "
        f"{report.get('generation_seconds', 0)} s for {report.get('generated', 0)} new responses; "
        f"{report.get('rows', 0)} rows written to `{report.get('output', '')}`.",
        "",
        head,
        "|---" * (len(groups) + 1) + "|",
    ]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(g) for _, g in groups) + " |")

    row("problems in", lambda g: str(g["problems_in"]))
    row("bad rows (skipped)", lambda g: str(g["bad_rows"]))
    row("problems with >= 1 kept", lambda g: f"{g['problems_with_kept']} ({_pct(g['problems_with_kept'] / g['problems_sampled'] if g['problems_sampled'] else None)})")
    row("responses sampled", lambda g: str(g["responses"]))
    row("responses accepted", lambda g: str(g["accepted"]))
    row("responses kept", lambda g: str(g["kept"]))
    row("acceptance rate (responses)", lambda g: _pct(g["acceptance_rate"]))
    for j in range(1, k + 1):
        row(f"problems accepted within {j} sample(s)", lambda g, j=j: _pct(g["problems_accepted_by_k"][j]))
    for reason in REASONS:
        row(f"rejected: {reason}", lambda g, r=reason: str(g["rejections"][r]))
    row("tokens, all: min / p10 / p50 / p90 / max", lambda g: _tok(g["tokens_all"]))
    row("tokens, kept: min / p10 / p50 / p90 / max", lambda g: _tok(g["tokens_kept"]))
    lines += ["", "Rejection reasons are the first failed check, in the order truncated, no_box (no closed "
              "`\\boxed{}`), bad_format (not exactly one well-formed final box: reward_fns.formatting), "
              "too_short, too_long (the length window), wrong (reward_fns.grade against the gold).", ""]
    return "\n".join(lines)
