"""Cheap, string-level normalisation of answers: LaTeX noise, units, degrees, percents, numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

_TEXT_MACRO_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mathsf|mbox|operatorname|boxed)\s*\{([^{}]*)\}"
)
_NOISE = (
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\displaystyle", ""), ("\\left", ""), ("\\right", ""),
    ("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("\\quad", " "), ("\\qquad", " "), ("\\ ", " "),
    ("~", " "), ("\\$", ""), ("$", ""), ("{,}", ","), ("\\%", "%"), ("\\{", "{"), ("\\}", "}"),
    ("\\cdot", "*"), ("\\times", "*"), ("\\leq", "<="), ("\\geq", ">="),
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\circ|\\degree|\s*\bdeg(?:rees?)?\b\.?", re.IGNORECASE)
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*([^=<>]+)$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
_FRAC_SLASH_RE = re.compile(r"^([+-]?)(\d+)\s*/\s*(\d+)$")
_FRAC_LATEX_RE = re.compile(r"^([+-]?)\\frac\s*(?:\{\s*([+-]?[\d.]+)\s*\}|(\d))\s*(?:\{\s*([+-]?[\d.]+)\s*\}|(\d))$")
_SCI_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))\s*(?:[eE]\s*|\*\s*10\s*\^\s*\{?\s*)([+-]?\d{1,3})\s*\}?$")
# A number followed by a unit of at most three words (``5 cm``, ``12 m^2``, ``3 km/h``, ``7 apples``).
_UNIT_RE = re.compile(
    r"^(?P<num>[+-]?[\d.,/]*\d)\s*(?P<unit>[A-Za-zμΩ]+(?:\s*\^\s*\{?[23]\}?)?(?:\s*(?:/|per\s)\s*[A-Za-z]+)?"
    r"(?:\s+[A-Za-z]+){0,2})$"
)
_MAX_NUM_CHARS = 60
# single letters that are variables far more often than units ("2x" is not "2 of x")
_NOT_UNITS = set("abcdefijknpqrtuvwxyz")


def unwrap_macros(s: str) -> str:
    """``\\text{abc}`` -> ``abc`` (and ``\\mathrm``, ``\\mbox``, ...), innermost first."""
    for _ in range(8):
        new = _TEXT_MACRO_RE.sub(r"\1", s)
        if new == s:
            break
        s = new
    return s


@dataclass(frozen=True)
class Norm:
    """A cleaned answer: ``text`` with degree / percent marks removed, and what was removed."""

    text: str
    percent: bool = False
    degree: bool = False


def clean(s: str) -> Norm:
    """Strip LaTeX noise, a leading ``x =``, trailing punctuation; note (and drop) degree and percent marks."""
    s = unwrap_macros(s.strip())
    for old, new in _NOISE:
        s = s.replace(old, new)
    s = unwrap_macros(s)
    degree = False
    s2 = _DEGREE_RE.sub("", s)
    if s2 != s:
        degree, s = True, s2
    percent = False
    s = s.strip()
    if s.endswith("%"):
        percent, s = True, s[:-1]
    elif re.search(r"\s*percent$", s, re.IGNORECASE):
        percent, s = True, re.sub(r"\s*percent$", "", s, flags=re.IGNORECASE)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    m = _ASSIGN_RE.match(s)
    if m:
        s = m.group(1).strip()
    return Norm(s, percent, degree)


def parse_number(s: str) -> Fraction | None:
    """Exact value of a plain number: int, decimal, ``a/b``, ``\\frac{a}{b}``, scientific, ``1,234``."""
    s = s.strip().replace(" ", "") if len(s) <= _MAX_NUM_CHARS else ""
    if not s:
        return None
    if _THOUSANDS_RE.match(s):
        s = s.replace(",", "")
    try:
        if _NUM_RE.match(s):
            return Fraction(Decimal(s))
        m = _FRAC_SLASH_RE.match(s)
        if m:
            den = int(m.group(3))
            return None if den == 0 else Fraction(int(m.group(2)), den) * (-1 if m.group(1) == "-" else 1)
        m = _FRAC_LATEX_RE.match(s)
        if m:
            num = Fraction(Decimal(m.group(2) or m.group(3)))
            den = Fraction(Decimal(m.group(4) or m.group(5)))
            return None if den == 0 else num / den * (-1 if m.group(1) == "-" else 1)
        m = _SCI_RE.match(s)
        if m:
            return Fraction(Decimal(m.group(1))) * Fraction(10) ** int(m.group(2))
    except (InvalidOperation, ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def number_with_unit(s: str) -> Fraction | None:
    """The number of ``5 cm`` / ``12 m^2`` / ``7 apples``; None when ``s`` is not number-then-unit."""
    m = _UNIT_RE.match(s)
    if not m or m.group("unit") in _NOT_UNITS:
        return None
    return parse_number(m.group("num"))


def round_to(x: Fraction, digits: int) -> Decimal:
    """``x`` rounded half-up to ``digits`` decimals (exact arithmetic)."""
    q = Decimal(1).scaleb(-digits)
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(q, rounding=ROUND_HALF_UP)


def text_key(s: str) -> str:
    """Case- and space-insensitive key for plain-text answers."""
    return re.sub(r"\s+", "", s.lower()).rstrip(".")


_PLAIN_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z '\-]*[A-Za-z]$")


def is_plain_text(s: str) -> bool:
    """True for word answers (``Yes``, ``north east``): letters, spaces, hyphens only, at least 2 letters."""
    return bool(_PLAIN_TEXT_RE.match(s))
