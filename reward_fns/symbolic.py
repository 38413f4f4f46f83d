"""Symbolic equality through math-verify, plus cheap refusals of inputs that could hang sympy.

``symbolic_equal`` has no time limit of its own (math-verify's signal-based timeouts are off so it works
in any thread); call it through :mod:`reward_fns.timeout`, which runs it in a killable worker process.
"""

from __future__ import annotations

import logging
import re

MAX_SYMBOLIC_CHARS = 400
MAX_NESTING = 24
_BIG_EXPONENT_RE = re.compile(r"(?:\^|\*\*)\s*[({]?\s*[+-]?\d{4,}")
# numeric towers: 9^{9^{9}}, 9**9**9, 9^9^9, 2^(3)^4 (symbolic ones like e^{x^2} stay unevaluated in sympy)
_TOWER_RE = re.compile(
    r"(?:\^|\*\*)\s*(?:\{\s*[\d.]+\s*\}|\(\s*[\d.]+\s*\)|\{\s*[\d.]+|\(\s*[\d.]+|[\d.]+)\s*(?:\^|\*\*)"
)
_BIG_FACTORIAL_RE = re.compile(r"\d{4,}\s*\)?\s*!|!\s*!|\\(?:Gamma|factorial)")
# ``(?![A-Za-z])``, not ``\b``: ``\sum_{k=0}`` / ``\int_0^1`` / ``\lim_{x\to 0}`` have a word character next
_HEAVY_RE = re.compile(r"\\(?:int|sum|prod|lim|iint|oint)(?![A-Za-z])")
# prose: a word (two or more letters, not a LaTeX command) followed by a space and another word, twice or more
# ("the answer is 5", "Ruth needs ... for the trip"); math juxtaposes no words ("ab + bc", "6 and 8", "dy/dx")
_WORD_PAIR_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?=\s+[A-Za-z]{2,})")
_ENV_RE = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")  # \begin{pmatrix} names no words
MAX_WORD_PAIRS = 1


def nesting_depth(s: str) -> int:
    """Deepest bracket nesting of ``s`` (``(``, ``[``, ``{`` together)."""
    depth = best = 0
    for c in s:
        if c in "([{":
            depth += 1
            best = max(best, depth)
        elif c in ")]}":
            depth = max(depth - 1, 0)
    return best


def refusal(s: str) -> str | None:
    """Why ``s`` must not reach sympy (tower exponents, huge factorials, unevaluated sums / integrals / limits /
    products, length, nesting, prose), else None. Prose: math-verify would pick a number out of the words."""
    if len(s) > MAX_SYMBOLIC_CHARS:
        return "too_long"
    if len(_WORD_PAIR_RE.findall(_ENV_RE.sub(" ", s))) > MAX_WORD_PAIRS:
        return "prose"
    if nesting_depth(s) > MAX_NESTING:
        return "too_deep"
    if _BIG_EXPONENT_RE.search(s) or _TOWER_RE.search(s):
        return "huge_power"
    if _BIG_FACTORIAL_RE.search(s):
        return "huge_factorial"
    if _HEAVY_RE.search(s):
        return "unevaluated_operator"
    return None


def symbolic_equal(pred: str, gold: str, precision: int | None = None) -> bool:
    """math-verify's verdict on ``pred`` vs ``gold`` (both LaTeX without a box); no timeout, no signals.

    Numbers are compared exactly (float_rounding 15) unless ``precision`` (decimals) is given.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    targets = [LatexExtractionConfig(), ExprExtractionConfig()]
    g = parse("\\boxed{" + gold + "}", targets, parsing_timeout=None)
    p = parse("\\boxed{" + pred + "}", targets, parsing_timeout=None)
    if not g or not p:
        return False
    rounding = 15 if precision is None else int(precision)
    return bool(verify(g, p, float_rounding=rounding, numeric_precision=30, timeout_seconds=None))
