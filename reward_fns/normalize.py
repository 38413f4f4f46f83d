"""Cheap, string-level normalisation of answers: LaTeX noise, units, degrees, percents, numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

from reward_fns.extract import _match_brace

_TEXT_MACRO_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mathsf|mbox|operatorname|boxed)\s*\{([^{}]*)\}"
)
_NOISE = (
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\displaystyle", ""), ("\\left", ""), ("\\right", ""),
    ("\\quad", " "), ("\\qquad", " "), ("~", " "), ("\\$", ""), ("$", ""), ("{,}", ","), ("\\%", "%"),
    ("\\{", "{"), ("\\}", "}"), ("\\cdot", "*"), ("\\times", "*"), ("\\leq", "<="), ("\\geq", ">="),
)
# LaTeX spacing commands ``\!`` ``\,`` ``\;`` ``\:`` ``\ ``, but not the second backslash of a ``\\`` row break
_SPACING_RE = re.compile(r"(?<!\\)\\([!,;: ])")
_GROUP_MARK_RE = re.compile(r"(?<=\d),\\!\s*(?=\d)")  # ``32,\! 349``: LaTeX's digit-group comma
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\circ|\\degree|\s*\bdeg(?:rees?)?\b\.?", re.IGNORECASE)
# A named quantity: letters, subscripts, LaTeX commands, ``| : / , ( ) { } ' .`` (``x``, ``AB``, ``F_{n}``, ``f(x)``,
# ``|AB|``, ``\frac{NO}{BO}``, ``V_1:V_2``, ``(p, q)``), or named in words (``Area``, ``S.A.``, ``Total surface area``),
# with no digit or operator outside its subscripts.
_NAME_RE = re.compile(r"^[A-Za-z|:/,(){}'.\s]*[A-Za-z][A-Za-z|:/,(){}'.\s]*$")
_SUBSCRIPT_RE = re.compile(r"_\{[^{}]*\}|_\w")
_CMD_BEFORE_MACRO_RE = re.compile(r"(\\[A-Za-z]+)(?=\\(?:text|mathrm|mbox|textrm)\s*\{)")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")
_UNIT_WORDS = (r"(?:(?:square|sq\.?|cubic|cu\.?)\s+)?(?:units?|mm|cm|dm|km|m|in|inch(?:es)?|ft|feet|foot|yd|yards?|mi"
               r"|miles?|(?:milli|centi|kilo)?met(?:er|re)s?|kg|mg|ml|mL|sec|seconds?|min|minutes?|hrs?|hours?)")
_UNIT_TAIL_RE = re.compile(rf"(?<![A-Za-z\\]){_UNIT_WORDS}\s*(?:\^\s*\{{?\s*[23]\s*\}}?|[²³])?\s*$")
_UNIT_MACRO_TAIL_RE = re.compile(rf"\\(?:mathrm|text|mbox|textrm)\s*\{{[\s~]*{_UNIT_WORDS}\s*\}}"
                                 r"\s*(?:\^\s*\{?\s*[23]\s*\}?)?[\s$]*$")
_TRAILING_SPACE_RE = re.compile(r"(?:\s|\\[,;:! ])+$")
_EQUATION_RE = re.compile(r"(?<![<>!=])=(?!=)")  # ``=``, not part of ``<=`` / ``>=`` / ``!=`` / ``==``
# Digit groups: ``1,234`` / ``12,345,678.5`` (first group 1-3 digits, no leading 0, then groups of three).
_THOUSANDS_RE = re.compile(r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$")
# A decimal comma: ``0,111`` / ``1,22`` / ``1000,99`` (one comma that cannot be a digit group).
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+,\d+$")
_LIST_COMMA_RE = re.compile(r",\s")
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


def _strip_grouping_braces(s: str) -> str:
    """``{1,3}`` -> ``1,3``: unescaped braces around the whole answer only group (``\\{1,3\\}`` is a set)."""
    while len(s) >= 2 and s[0] == "{" and _match_brace(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    return s


def clean(s: str) -> Norm:
    """Strip LaTeX noise and trailing punctuation; note (and drop) degree and percent marks.

    A leading ``x =`` is kept: whether it goes depends on the other side (:func:`split_assignment`).
    """
    s = unwrap_macros(_CMD_BEFORE_MACRO_RE.sub(r"\1 ", s.strip()))  # "9\pi\mathrm{cm}" -> "9\pi cm"
    if s.startswith("{"):
        s = _strip_grouping_braces(s)
    if "\\" in s:
        s = _SPACING_RE.sub(lambda m: " " if m.group(1) == " " else "", _GROUP_MARK_RE.sub(",", s))
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
    return Norm(s, percent, degree)


def split_assignment(s: str) -> tuple[str, str] | None:
    """``x = 5`` / ``|AB| = 5`` / ``V_1:V_2 = 11:21`` -> (name, value): a named quantity given one value;
    None for anything else (``X+Y=Z``, ``2x-y+1=0``, ``x^2=4``: equations, not names)."""
    parts = _EQUATION_RE.split(s)
    if len(parts) != 2 or any(c in parts[1] for c in "<>"):
        return None
    name, value = parts[0].strip(), parts[1].strip()
    bare = re.sub(r"\\[A-Za-z]+", " ", _SUBSCRIPT_RE.sub(" ", name))
    return (name, value) if value and _NAME_RE.match(bare) else None


def strip_unit(s: str) -> str:
    r"""``9 \pi cm^{2}`` -> ``9 \pi``, ``4\sqrt{3} units`` -> ``4\sqrt{3}``: a unit of length, area, volume, mass or
    time at the end of a constant expression (no variable left) is no part of the value; ``s`` unchanged
    otherwise (``2x m``, ``5 h`` keep theirs: a letter there may be a variable). Plain numbers with a unit are
    read by :func:`number_with_unit`."""
    m = _UNIT_TAIL_RE.search(s)
    if not m:
        return s
    head = _TRAILING_SPACE_RE.sub("", s[:m.start()])
    bare = _COMMAND_RE.sub(" ", head)
    if not head or re.search(r"[A-Za-z]", bare) or not re.search(r"[\dπ]|\\pi", head):
        return s
    return head


def strip_unit_macro(s: str) -> str:
    r"""``12x^2+144x+384 \mathrm{m}^3`` -> ``12x^2+144x+384``: a unit set in ``\mathrm{}`` / ``	ext{}`` at the
    end of an answer is marked as a unit, so it goes whatever precedes it (raw text, before :func:`clean`)."""
    m = _UNIT_MACRO_TAIL_RE.search(s)
    if not m:
        return s
    head = _TRAILING_SPACE_RE.sub("", s[:m.start()]).rstrip("~").rstrip()
    return head if head and head[-1] not in "=$" else s


def computed_value(s: str) -> str:
    """``24*24 = 576`` -> ``576``: a computation written out before its value is the value (every side is a
    constant expression: no variable, so ``7 = 11a+c`` stays an equation); anything else is returned unchanged."""
    parts = _EQUATION_RE.split(s)
    if len(parts) < 2 or not parts[-1].strip() or any(c in s for c in "<>"):
        return s
    if re.search(r"[A-Za-z]", _COMMAND_RE.sub(" ", strip_unit(parts[-1].strip()))):
        return s
    for side in parts[:-1]:
        bare = _COMMAND_RE.sub(" ", side)
        if not side.strip() or re.search(r"[A-Za-z]", bare) or not re.search(r"\d", side):
            return s
    return parts[-1].strip()


def is_equation(s: str) -> bool:
    """True when ``s`` states an equation (``2x-y+1=0``, ``X+Y=Z``, ``x = 5``)."""
    return bool(_EQUATION_RE.search(s))


def parse_number(s: str) -> Fraction | None:
    """Exact value of a plain number: int, decimal, ``a/b``, ``\\frac{a}{b}``, scientific, ``1,234``, ``0,5``.

    A comma is a digit-group mark when every group after it has three digits (``1,234``), else a decimal
    comma (``0,111``, ``1,22``); a comma before a space separates list items (``32, 349`` is no number).
    """
    if len(s) > _MAX_NUM_CHARS or _LIST_COMMA_RE.search(s):
        return None
    s = s.strip().replace(" ", "")
    if not s:
        return None
    if _THOUSANDS_RE.match(s):
        s = s.replace(",", "")
    elif _DECIMAL_COMMA_RE.match(s):
        s = s.replace(",", ".")
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
