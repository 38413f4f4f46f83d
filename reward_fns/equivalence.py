"""Is a predicted answer equivalent to the gold one? Fast exact rules first, math-verify last."""

from __future__ import annotations

import re
import time
from fractions import Fraction

from reward_fns import numeric
from reward_fns.normalize import (
    _EQUATION_RE,
    Norm,
    clean,
    computed_value,
    is_equation,
    is_plain_text,
    number_with_unit,
    parse_number,
    round_to,
    split_assignment,
    strip_unit,
    strip_unit_macro,
    text_key,
)
from reward_fns.symbolic import refusal
from reward_fns.timeout import DEFAULT_LIMIT_S, get_pool

_SCALAR_RE = re.compile(r"^(?:[A-Za-z](?:_\{?\w+\}?)?|[+-]?\d+(?:\.\d+)?)$")  # one name or one number
MAX_UNORDERED_ITEMS = 32  # longer unbracketed lists are compared in order

_OPEN_CLOSE = {"(": ")", "[": "]", "{": "}"}


def split_tuple(s: str) -> tuple[str, str, list[str]] | None:
    """``(a, b)`` / ``[a, b)`` / ``{a, b}`` -> (open, close, items) when the outer brackets enclose all of ``s``
    and it has a top-level comma; None otherwise."""
    if len(s) < 3 or s[0] not in "([{" or s[-1] not in ")]}":
        return None
    depth, items, start = 0, [], 1
    for i in range(1, len(s) - 1):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return None  # the first bracket closes before the end: "(1)+(2)"
        elif c == "," and depth == 0:
            items.append(s[start:i].strip())
            start = i + 1
    if depth != 0 or not items:
        return None
    items.append(s[start:-1].strip())
    return s[0], s[-1], items


def split_plain_list(s: str) -> list[str] | None:
    """``1, 2, 3`` (no brackets, top-level commas) -> items; None when there is no top-level comma."""
    if "," not in s:
        return None
    t = split_tuple("(" + s + ")")
    return t[2] if t else None


def strip_outer_parens(s: str) -> str:
    """``((5))`` -> ``5`` (brackets enclosing everything, without a top-level comma)."""
    for _ in range(64):
        if len(s) >= 2 and s[0] in _OPEN_CLOSE and s[-1] == _OPEN_CLOSE[s[0]]:
            inner = s[1:-1]
            depth = 0
            ok = True
            for c in inner:
                if c in "([{":
                    depth += 1
                elif c in ")]}":
                    depth -= 1
                    if depth < 0:
                        ok = False
                        break
            if ok and depth == 0 and split_tuple(s) is None:
                s = inner.strip()
                continue
        break
    return s


def as_number(n: Norm) -> Fraction | None:
    """The exact value of a cleaned answer, accepting a trailing unit (``5 cm``)."""
    x = parse_number(n.text)
    if x is None:
        x = number_with_unit(n.text)
    return x


def numbers_equal(p: Fraction, pn: Norm, g: Fraction, gn: Norm, precision: int | None) -> bool:
    """Exact equality (or equality after rounding to ``precision`` decimals); a percent sign on one side
    only may also mean the value divided by 100."""
    candidates = [(p, g)]
    if pn.percent != gn.percent:
        candidates.append((p / 100, g) if pn.percent else (p, g / 100))
    for a, b in candidates:
        if precision is not None:
            if round_to(a, precision) == round_to(b, precision):
                return True
        elif a == b:
            return True
    return False


def drop_assignments(p: str, g: str) -> tuple[str, str]:
    """``x = 5`` vs ``5`` -> ``5`` vs ``5``: a side's ``name =`` goes unless the other side is an equation
    that is no assignment (``y=2x+1`` keeps its ``y`` against ``2x-y+1=0``)."""
    if "=" not in p and "=" not in g:
        return p, g
    pa, ga = split_assignment(p), split_assignment(g)
    new_p = pa[1] if pa and (ga or not is_equation(g)) else p
    new_g = ga[1] if ga and (pa or not is_equation(p)) else g
    # a computation written out before its value ("24*24 = 576", "Area = 6*4 = 24") is the value
    if not is_equation(new_g):
        new_p = computed_value(_drop_name(new_p))
    if not is_equation(new_p):
        new_g = computed_value(_drop_name(new_g))
    return new_p, new_g


def _drop_name(s: str) -> str:
    """``Area = 6*4 = 24`` -> ``6*4 = 24``: a leading name before a chain of equalities."""
    parts = _EQUATION_RE.split(s, maxsplit=1)
    if len(parts) == 2 and "=" in parts[1] and split_assignment(parts[0] + "= 0"):
        return parts[1]
    return s


def _items_equal(pi: list[str], gi: list[str], precision: int | None, deadline: float,
                 symbolic: bool) -> tuple[bool, str]:
    """Items pairwise, in order (tuples, intervals)."""
    if len(pi) != len(gi):
        return False, "tuple_length"
    for a, b in zip(pi, gi):
        ok, why = equivalent(a, b, precision=precision, symbolic=symbolic, deadline=deadline)
        if not ok:
            return False, "tuple_item:" + why
    return True, "tuple"


def _same_set(pi: list[str], gi: list[str], precision: int | None) -> bool:
    """Every item of each list equals an item of the other, by the fast rules (no symbolic work)."""
    if max(len(pi), len(gi)) > MAX_UNORDERED_ITEMS:
        return False

    def covered(xs: list[str], ys: list[str]) -> bool:
        return all(any(equivalent(x, y, precision=precision, symbolic=False)[0] for y in ys) for x in xs)

    return covered(pi, gi) and covered(gi, pi)


def equivalent(pred: str, gold: str, *, precision: int | None = None, limit_s: float | None = None,
               symbolic: bool = True, deadline: float | None = None) -> tuple[bool, str]:
    """``(equal, reason)``: exact text, numbers, tuples/intervals/lists, plain words, then (if ``symbolic``)
    math-verify in a time-limited worker process.

    ``deadline`` (``time.monotonic()``) bounds all symbolic work of the call; default now + ``limit_s``.
    Decisions: an equation never equals a non-equation (``Z`` vs ``X+Y=Z``) once named quantities' ``name =``
    parts are dropped; ``(a, b)`` / ``[a, b)`` are ordered, unbracketed lists and ``{a, b}`` sets unordered.
    """
    if deadline is None:
        deadline = time.monotonic() + (DEFAULT_LIMIT_S if limit_s is None else limit_s)
    pn, gn = clean(strip_unit_macro(pred)), clean(strip_unit_macro(gold))
    p, g = drop_assignments(pn.text, gn.text)
    p, g = strip_unit(p), strip_unit(g)  # "9 \pi cm^{2}" is 9π: units are no part of a value
    p, g = strip_outer_parens(p), strip_outer_parens(g)
    pn, gn = Norm(p, pn.percent, pn.degree), Norm(g, gn.percent, gn.degree)
    if not p:
        return False, "empty_pred"
    if p == g and pn.percent == gn.percent:
        return True, "exact"
    gx = as_number(gn)
    if gx is not None:
        px = as_number(pn)
        if px is not None:
            return numbers_equal(px, pn, gx, gn, precision), "number"
    pt, gt = split_tuple(p), split_tuple(g)
    pl = None if pt else split_plain_list(p)
    gl = None if gt else split_plain_list(g)
    if (pt or pl) and (gt or gl):
        if pt and gt and (pt[0], pt[1]) != (gt[0], gt[1]):
            return False, "tuple_brackets"
        pi, gi = (pt[2] if pt else pl), (gt[2] if gt else gl)
        if any(t and t[0] in "([" for t in (pt, gt)):
            return _items_equal(pi, gi, precision, deadline, symbolic)
        if _same_set(pi, gi, precision):  # unbracketed lists and {sets}: unordered; else math-verify's sets
            return True, "list_unordered"
    elif (pt and _SCALAR_RE.match(g)) or (gt and _SCALAR_RE.match(p)):
        return False, "tuple_vs_scalar"  # (0, 1) is never D, nor 5
    if ("=" in p or "=" in g) and is_equation(p) != is_equation(g):
        return False, "equation_vs_expression"
    if is_plain_text(p) or is_plain_text(g):
        if text_key(p) == text_key(g):
            return True, "text"
        if is_plain_text(p) and is_plain_text(g):
            return False, "text"
    if text_key(p) == text_key(g) and pn.percent == gn.percent:
        return True, "text"
    if pn.percent == gn.percent:  # closed forms (2\sqrt{3}, \frac{\pi}{3}) by a bounded float evaluator
        if precision is not None:
            a, b = numeric.value(p), numeric.value(g)
            if a is not None and b is not None:
                return round_to(Fraction(a), precision) == round_to(Fraction(b), precision), "numeric"
        decided = numeric.compare(p, g)
        if decided is not None:
            return decided, "numeric"
    if not symbolic:
        return False, "no_fast_match"
    why = refusal(p) or refusal(g)
    if why:
        return False, "refused:" + why
    verdict, reason = get_pool().check(p, g, precision, deadline=deadline)
    return bool(verdict), reason
