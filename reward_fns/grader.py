"""The one grader behind every reward face and the evaluation: ``grade`` a response, ``grade_answer`` a
prediction. Never raises: any failure is a wrong answer with the reason recorded."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from reward_fns.choices import (
    LETTERS,
    letters_named,
    names_several,
    parse_options,
    read_letter,
    split_gold,
    strip_prefix,
)
from reward_fns.equivalence import equivalent
from reward_fns.extract import _match_brace, extract_answer
from reward_fns.normalize import clean
from reward_fns.timeout import DEFAULT_LIMIT_S

__all__ = ["Verdict", "extract_answer", "grade", "grade_answer"]

log = logging.getLogger(__name__)

MAX_PRED_CHARS = 1000
# a Latin letter outside LaTeX commands and unit words: a variable (``2x``), so no plain value
_VARIABLE_RE = re.compile(r"(?<![\\A-Za-z])(?!(?:mathrm|text|textbf|circ|pi|sqrt|frac|dfrac|cdot|times|mm|cm|km|kg|m|"
                          r"square|units?|degrees?)\b)[A-Za-z]+")
_NULL_GOLDS = {"", "none", "null", "nan", "n/a", "undefined"}


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one answer. ``reason`` says which rule decided (or why it is 0)."""

    correct: bool
    pred: str | None
    reason: str
    gold_letter: str | None = None
    pred_letter: str | None = None


def _gold_problem(gold: str) -> str | None:
    """Why ``gold`` cannot be graded against (empty, "None", unbalanced braces), else None."""
    if clean(gold).text.strip().lower() in _NULL_GOLDS:
        return "bad_gold:empty"
    depth = 0
    for c in gold.replace("\\{", "").replace("\\}", ""):
        depth += (c == "{") - (c == "}")
        if depth < 0:
            return "bad_gold:unbalanced"
    if depth != 0:
        return "bad_gold:unbalanced"
    return None


MAX_OPTION_CHARS = 2000


class _OptionsTimeout(Exception):
    """Matching against the options ran past the call's deadline."""


def _find_option(text: str, options: Sequence[str], deadline: float) -> list[int]:
    """Indices of the options ``text`` equals (fast rules only: no symbolic work per option), within
    ``deadline``: a pathological option list ends as a timeout, never a stalled batch."""
    hits = []
    for i, opt in enumerate(options):
        if time.monotonic() > deadline:
            raise _OptionsTimeout
        if opt and equivalent(text, opt, symbolic=False)[0]:
            hits.append(i)
    return hits


def _same_text(a: str, b: str) -> bool:
    """Two option texts that read the same (MathVista pid 781: 18 is both C and D)."""
    return bool(a.strip()) and a.strip().lower() == b.strip().lower()


def _values_differ(content: str, option: str) -> bool:
    """The text written after a letter and the letter's option are both values and differ (``(D) 120°`` where
    D is 108°, ``(C) 96 m^2`` where C is 144 m², MATH-V); words, times or placeholders ("another value")
    decide nothing."""
    if not all(re.search(r"\d", x) and not _VARIABLE_RE.search(x) for x in (content, option)):
        return False  # MATH-V's letters-only options ("E"), placeholders, expressions in variables
    ok, why = equivalent(content, option, symbolic=False)
    return not ok and why in ("number", "numeric")


def _out_of_range_letter(pred: str, n: int | None) -> bool:
    """A bare capital letter beyond the options (``E`` among three): a letter, never an option's text
    (We-Math "E" among "A. E; B. F; C. G" is wrong, as the official script reads it)."""
    letter, content = read_letter(pred, None, allow_lower=False, spaced=False)
    return n is not None and letter is not None and content is None and LETTERS.index(letter) >= n


def _grade_letters(pred: str, gold_letters: frozenset[str], options: list[str] | None,
                   deadline: float) -> Verdict:
    """A gold naming several options (``C\nD``): right when the prediction names exactly those letters."""
    gold = "".join(sorted(gold_letters))
    named = letters_named(pred)
    if named is None:
        letter, _ = read_letter(pred, len(options) if options else None, allow_lower=False)
        named = frozenset(letter) if letter else None
    if named is None and options:
        hits = _find_option(pred, options, deadline)
        named = frozenset(LETTERS[i] for i in hits) if hits else None
    if named is None:
        return Verdict(False, pred, "choice_letters_unmatched", gold)
    return Verdict(named == gold_letters, pred, "choice_letters", gold, "".join(sorted(named)))


def _grade_choice(pred: str, gold_letter: str, gold_content: str | None, options: list[str] | None,
                  precision: int | None, deadline: float) -> Verdict:
    n = len(options) if options else None
    if _out_of_range_letter(pred, n):
        return Verdict(False, pred, "choice_letter_out_of_range", gold_letter, strip_prefix(pred).strip("()[]. "))
    hits = _find_option(pred, options, deadline) if options else []
    letter, content = read_letter(pred, n, allow_lower=True)
    # "(A) E" is letter A with its text E (We-Math 2steps_99), not the letters A and E
    own_text = bool(letter and content and options and LETTERS.index(letter) < len(options)
                    and _find_option(content, [options[LETTERS.index(letter)]], deadline))
    if not hits and not own_text and names_several(pred):
        return Verdict(False, pred, "choice_several_letters", gold_letter)
    if letter is not None:
        idx = LETTERS.index(letter)
        if content and options and idx < len(options):
            named_ok = bool(_find_option(content, [options[idx]], deadline))
            others = [i for i in _find_option(content, options, deadline) if i != idx]
            if not named_ok and (others or _values_differ(content, options[idx])):
                return Verdict(False, pred, "choice_letter_content_conflict", gold_letter, letter)
        gold_idx = LETTERS.index(gold_letter)
        if letter != gold_letter and options and max(idx, gold_idx) < len(options) and _same_text(
                options[idx], options[gold_idx]):
            return Verdict(True, pred, "choice_letter_same_text", gold_letter, letter)
        return Verdict(letter == gold_letter, pred, "choice_letter", gold_letter, letter)
    if hits:
        gold_idx = LETTERS.index(gold_letter)
        return Verdict(gold_idx in hits, pred, "choice_content", gold_letter, LETTERS[hits[0]])
    if gold_content:
        ok, why = equivalent(pred, gold_content, precision=precision, deadline=deadline)
        return Verdict(ok, pred, "choice_gold_content:" + why, gold_letter)
    return Verdict(False, pred, "choice_unmatched", gold_letter)


def _grade(pred: str | None, gold: object, options: Sequence[str] | None, problem: str | None,
           precision: int | None, deadline: float) -> Verdict:
    if pred is None:
        return Verdict(False, None, "no_answer")
    pred = pred.strip()
    if gold is None:
        return Verdict(False, pred, "bad_gold:none")
    gold = str(gold).strip()
    bad = _gold_problem(gold)
    if bad:
        return Verdict(False, pred, bad)
    if not pred or not clean(pred).text:
        return Verdict(False, pred, "empty_pred")
    if len(pred) > MAX_PRED_CHARS:
        return Verdict(False, pred[:100], "pred_too_long")
    if _match_brace("{" + pred + "}", 0) is None:
        return Verdict(False, pred, "pred_unbalanced")
    # only the options a letter can name (A-J) count; each clipped, so the work is bounded before it starts
    opts = ([str(o).strip()[:MAX_OPTION_CHARS] for o in options[:len(LETTERS)]]
            if options is not None and len(options) > 0 else None)
    opts = opts or parse_options(problem)
    several = letters_named(gold)
    if several is not None and (opts or any(c in gold for c in "\n,;")) and (
            not opts or all(LETTERS.index(c) < len(opts) for c in several)):
        return _grade_letters(pred, several, opts, deadline)
    gold_letter, gold_content = split_gold(gold, len(opts) if opts else None)  # "E" with 4 options: no letter
    if gold_letter is None and opts:
        hits = _find_option(gold, opts, deadline)
        if hits:
            gold_letter, gold_content = LETTERS[hits[0]], gold
    if gold_letter is not None:
        if gold_content is None and opts:
            gold_content = opts[LETTERS.index(gold_letter)]
        return _grade_choice(pred, gold_letter, gold_content, opts, precision, deadline)
    if opts:
        letter, _ = read_letter(pred, len(opts), allow_lower=False)
        if letter is not None:
            ok, why = equivalent(opts[LETTERS.index(letter)], gold, precision=precision, deadline=deadline)
            return Verdict(ok, pred, "choice_letter_to_content:" + why, None, letter)
    ok, why = equivalent(pred, gold, precision=precision, deadline=deadline)
    return Verdict(ok, pred, why)


def _as_precision(value: object) -> int | None:
    """An int number of decimals, or None for missing values (None, NaN, "", non-numbers)."""
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(f) if f == f and 0 <= f <= 20 else None


def grade_answer(pred: str | None, gold: object, *, options: Sequence[str] | None = None,
                 problem: str | None = None, precision: int | None = None,
                 limit_s: float | None = None, timeout_retries: int = 1) -> Verdict:
    """Grade an already-extracted prediction against ``gold``.

    ``options``: the item's choices (first is A); else they are parsed from ``problem``. ``precision``:
    decimals to round numbers to (MathVista), else numbers must be exactly equal. ``limit_s``: wall-clock limit
    for all symbolic work of one attempt (default ``RLCS_REWARD_TIMEOUT`` or 3 s). A symbolic timeout is its
    own reason (``symbolic_timeout``, possibly after a prefix such as ``tuple_item:``) and is retried
    ``timeout_retries`` times, so a verdict does not hang on machine load; the call then takes at most
    ``(1 + timeout_retries) * limit_s`` plus a small constant.
    """
    limit = DEFAULT_LIMIT_S if limit_s is None else limit_s
    try:
        precision = _as_precision(precision)
        for _ in range(1 + max(0, timeout_retries)):
            try:
                v = _grade(pred, gold, options, problem, precision, time.monotonic() + limit)
            except _OptionsTimeout:
                v = Verdict(False, pred, "symbolic_timeout:options")
            if "symbolic_timeout" not in v.reason:
                break
        return v
    except Exception as e:  # never raise into a trainer or an evaluation loop
        log.warning("grading failed: %r", e)
        return Verdict(False, pred if isinstance(pred, str) else None, f"error:{type(e).__name__}")


def grade(response: str, gold: object, *, options: Sequence[str] | None = None, problem: str | None = None,
          precision: int | None = None, limit_s: float | None = None, timeout_retries: int = 1) -> Verdict:
    """Grade a full response: its last ``\\boxed{}`` (else ``<answer>``) against ``gold``; no answer is 0."""
    try:
        pred = extract_answer(response)
    except Exception as e:
        return Verdict(False, None, f"error:{type(e).__name__}")
    return grade_answer(pred, gold, options=options, problem=problem, precision=precision, limit_s=limit_s,
                        timeout_retries=timeout_retries)
