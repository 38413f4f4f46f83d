"""Accept or reject one teacher response, and choose which accepted responses of a problem to keep.

The answer check is the project's one grader (`reward_fns.grade`, the GRPO reward and the evaluation):
the last `\\boxed{}` of the response against the gold. Every rejection has one reason, the first check
that failed, in this order: truncated, no_box, bad_format, too_short, too_long, wrong.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reward_fns import extract_answer, grade
from reward_fns.extract import box_spans
from reward_fns.formatting import format_ok

REASONS = ("truncated", "no_box", "bad_format", "too_short", "too_long", "wrong")
"""Rejection reasons, in the order they are checked."""


@dataclass(frozen=True)
class Filters:
    """What besides a right answer a response needs (DistillConfig's filter fields)."""

    require_single_box: bool = True
    drop_truncated: bool = True
    min_tokens: int | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class Judgement:
    accepted: bool
    reason: str
    """`ok`, or the rejection reason (one of REASONS)."""
    pred: str | None
    """The last boxed answer, if any."""


def gold_answer(answer: str) -> str:
    """The final answer to grade against: the last `\\boxed{}` of a worked solution, else the text itself."""
    if box_spans(answer):
        boxed = extract_answer(answer)
        if boxed:
            return boxed
    return answer.strip()


def judge(response: str, gold: str, problem: str, tokens: int, truncated: bool, f: Filters) -> Judgement:
    """Judge one response of `tokens` tokens (`truncated`: generation hit its token budget)."""
    spans = box_spans(response)
    pred = spans[-1][2].strip() if spans and spans[-1][2] is not None else None
    if truncated and f.drop_truncated:
        return Judgement(False, "truncated", pred)
    if pred is None:
        return Judgement(False, "no_box", None)
    if f.require_single_box and not format_ok(response)[0]:
        return Judgement(False, "bad_format", pred)
    if f.min_tokens is not None and tokens < f.min_tokens:
        return Judgement(False, "too_short", pred)
    if f.max_tokens is not None and tokens > f.max_tokens:
        return Judgement(False, "too_long", pred)
    verdict = grade(response, gold, problem=problem)
    if not verdict.correct:
        return Judgement(False, "wrong", pred)
    return Judgement(True, "ok", pred)


def choose(tokens: list[int], keep: str, m: int, key: str) -> list[int]:
    """Indices (into the accepted responses, whose lengths are `tokens`) to keep, in sample order.

    `shortest`: the m shortest (ties: earlier sample first); `random`: m drawn with a generator seeded by
    `key` (stable across reruns); `all`: every one.
    """
    n = len(tokens)
    if keep == "all":
        return list(range(n))
    if keep == "shortest":
        picked = sorted(range(n), key=lambda i: (tokens[i], i))[:m]
    elif keep == "random":
        picked = random.Random(key).sample(range(n), min(m, n))
    else:
        raise ValueError(f"distill.keep must be shortest, random or all, got {keep!r}")
    return sorted(picked)
