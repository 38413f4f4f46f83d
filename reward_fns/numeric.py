"""A tiny, safe numeric evaluator for closed-form LaTeX (``2\\sqrt{3}``, ``\\frac{\\pi}{3}``, ``2^{10}``).

It lets the grader decide most symbolic comparisons without sympy: values that differ are unequal;
equal values of expressions with only integer literals are equal. Anything it does not know (variables,
functions other than sqrt, decimals that agree) returns None and goes to math-verify.
"""

from __future__ import annotations

import math
import re

_TOKEN_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\pi\b|\\sqrt|\\frac|\*\*|[-+*/^(){}\[\]]|π|√|[A-Za-z])")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")  # sin, cos, log, words: not products of variables
_MIXED_RE = re.compile(r"\d\s*\\frac")
MAX_CHARS = 200
MAX_EXPONENT = 64


class _Fail(Exception):
    pass


def _tokens(s: str) -> list[str]:
    out, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if not m:
            raise _Fail
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, toks: list[str], point: int = 0) -> None:
        self.t, self.i, self.point = toks, 0, point

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _Fail
        self.i += 1
        return tok

    def expr(self) -> float:
        v = self.term()
        while self.peek() in ("+", "-"):
            v = v + self.term() if self.take() == "+" else v - self.term()
        return v

    def term(self) -> float:
        v = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/"):
                self.take()
                rhs = self.unary()
                if tok == "/":
                    if rhs == 0:
                        raise _Fail
                    v /= rhs
                else:
                    v *= rhs
            elif tok is not None and (tok[0].isdigit() or tok[0] == "." or tok.isalpha() or tok in ("\\pi", "π", "\\sqrt", "√",
                                                                                    "\\frac", "(", "{")):
                v *= self.power()  # implicit multiplication: 2\sqrt{3}, 2\pi, 3(4)
            else:
                return v

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            exp = self.unary() if self.peek() in ("-", "+") else self.atom()
            if abs(exp) > MAX_EXPONENT or (base == 0 and exp < 0) or (base < 0 and exp != int(exp)):
                raise _Fail
            return base**exp
        return base

    def group(self) -> float:
        tok = self.peek()
        if tok == "{":
            self.take()
            v = self.expr()
            self.take("}")
            return v
        if tok is not None and tok[0].isdigit():  # \frac12: one digit per argument
            self.take()
            if len(tok) > 1:
                self.t.insert(self.i, tok[1:])
            return float(tok[0])
        return self.atom()

    def atom(self) -> float:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        if tok in ("\\pi", "π"):
            return math.pi
        if tok == "e":
            return math.e
        if tok.isalpha():  # a variable: a fixed generic value per letter and evaluation point
            return _variable_value(tok, self.point)
        if tok in ("(", "{"):
            v = self.expr()
            self.take(")" if tok == "(" else "}")
            return v
        if tok in ("\\sqrt", "√"):
            n = 2.0
            if self.peek() == "[":
                self.take()
                n = self.expr()
                self.take("]")
                if n != int(n) or not 2 <= n <= 10:
                    raise _Fail
            v = self.group()
            if v < 0:
                raise _Fail
            return v ** (1.0 / n)
        if tok == "\\frac":
            num = self.group()
            den = self.group()
            if den == 0:
                raise _Fail
            return num / den
        raise _Fail


def _variable_value(letter: str, point: int) -> float:
    """A generic value in [1, 2) for ``letter`` at evaluation point 0 or 1 (distinct per letter)."""
    golden = (0.6180339887498949, 0.41421356237309515)[point]
    return 1.0 + (ord(letter) * golden + 0.1234567 * point) % 1.0


def value(s: str, point: int = 0) -> float | None:
    """The float value of an expression (variables take generic values at evaluation ``point``), or None
    if it is not one this parser knows."""
    if not s or len(s) > MAX_CHARS or _MIXED_RE.search(s) or _WORD_RE.search(_COMMAND_RE.sub(" ", s)):
        return None  # "2\frac{1}{2}" may be a mixed number: leave it to math-verify
    try:
        p = _Parser(_tokens(s), point)
        v = p.expr()
        if p.peek() is not None or not math.isfinite(v):
            return None
        return v
    except (_Fail, OverflowError, ValueError, ZeroDivisionError, RecursionError):
        return None


def _equation_sides(s: str) -> tuple[str, str] | None:
    parts = s.split("=")
    return (parts[0], parts[1]) if len(parts) == 2 and not re.search(r"[<>!]$", parts[0]) else None


def compare_equations(pred: str, gold: str) -> bool | None:
    """Two equations ``L1 = R1`` / ``L2 = R2`` state the same relation when ``L1 - R1`` is a constant nonzero
    multiple of ``L2 - R2`` (``y=2x+1`` vs ``2x-y+1=0``): checked at two generic points like :func:`compare`."""
    sides = _equation_sides(pred), _equation_sides(gold)
    if sides[0] is None or sides[1] is None:
        return None
    ratios = []
    for point in (0, 1):
        diffs = []
        for left, right in sides:
            a, b = value(left, point), value(right, point)
            if a is None or b is None:
                return None
            diffs.append(a - b)
        if abs(diffs[0]) < 1e-9 or abs(diffs[1]) < 1e-9:
            return None  # a generic point on the curve: say nothing
        ratios.append(diffs[0] / diffs[1])
    if not math.isclose(ratios[0], ratios[1], rel_tol=1e-6):
        return False
    if "." not in pred and "." not in gold and math.isclose(ratios[0], ratios[1], rel_tol=1e-9):
        return True
    return None


def compare(pred: str, gold: str) -> bool | None:
    """True / False when numeric evaluation decides, None when sympy must (agreeing decimals, unknowns).

    Expressions with variables are evaluated at two generic points (identity testing): a clear
    difference at either is inequality, agreement at both (integer literals only) is equality. Two
    equations are compared by :func:`compare_equations`.
    """
    if "=" in pred and "=" in gold:
        return compare_equations(pred, gold)
    has_vars = bool(_LETTER_RE.search(_COMMAND_RE.sub("", pred + " " + gold)))
    for point in (0, 1) if has_vars else (0,):
        a, b = value(pred, point), value(gold, point)
        if a is None or b is None:
            return None
        if not math.isclose(a, b, rel_tol=1e-6 if has_vars else 1e-9, abs_tol=1e-12):
            return False
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return None
    if "." not in pred and "." not in gold:
        return True  # integer literals, sqrt, pi, fractions: agreement to 1e-9 is equality
    return None


_COMMAND_RE = re.compile(r"\\[A-Za-z]+")
_LETTER_RE = re.compile(r"[A-Za-z]")
