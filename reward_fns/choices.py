"""Multiple choice: find the options of an item and read letters in their many dresses."""

from __future__ import annotations

import re

from reward_fns.normalize import unwrap_macros

LETTERS = "ABCDEFGHIJ"
MAX_PROBLEM_CHARS = 20000
# An option marker: ``(A)``, ``（A）``, ``[A]``, or a letter and a stop (``A.``, ``A:``, ``A)``, ``A．``, ``A、``,
# ``A .``), at the start or after whitespace, ``;``, ``,`` or a sentence's stop ("A. 8 cm;B. 10 cm", "A:40°\nB:50°",
# "(A) 3 (B) 4", MathVerse's inline "...determine its equation.A. \frac{x^2}{81} + ... = 1 B. Can not determine.").
_MARKER_RE = re.compile(r"(?:^|(?<=[\s;；,，.?？。!]))(?:[(（]([A-J])[)）]|\[([A-J])\]|([A-J])\s*[.:：)．、])")
_OPTION_TAIL_RE = re.compile(r"[\s;；,，]+$")
_EMPTY_AFTER_RE = re.compile(r"\s*(?:[;；]|$)")
_MAX_LETTER_GAP = 2
_PREFIX_RE = re.compile(r"^(?:the\s+)?(?:correct\s+)?(?:final\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:：]?\s*",
                        re.IGNORECASE)
# One letter, optionally bracketed, optionally followed by a separator and the option's content.
_LETTER_RE = re.compile(r"^[(\[]?\s*([A-Ja-j])\s*[)\]]?(?:\s*[.:：)]\s*(.*)|\s+(.+)|)$", re.DOTALL)
# What makes a letter a variable rather than an option: a relation or operator right after it
# (``A = 4``, ``A \cap B``, ``D = (0, 1)``, ``x < 3``).
_OPERATOR_START_RE = re.compile(
    r"^(?:[=<>+\-*/^_,;!|≤≥≠∈∉∪∩×÷·]|\\(?:cap|cup|in|notin|le|ge|leq|geq|ne|neq|lt|gt|times|cdot|div|pm|mp|setminus"
    r"|subset|subseteq|supset|supseteq|to|perp|parallel|cong|sim|simeq|approx|equiv|prime)(?![A-Za-z]))"
)
_MULTI_RE = re.compile(r"^[(\[]?[A-J][)\]]?(?:\s*(?:,|;|/|&|\band\b|\bor\b)?\s*[(\[]?[A-J][)\]]?)+$",
                       re.IGNORECASE)


def parse_options(problem: str | None) -> list[str] | None:
    """Option texts listed in ``problem`` ("Choices: (A) 3 (B) 4", "A. 8 cm; B. 10 cm", "A:40°\\nB:50°"), A first;
    None without at least two.

    The last run of markers starting at A wins; the last option ends at its line's end. Real We-Math quirks:
    a "marker" with nothing after it before the next ``;`` is text (``around point ;O.;B. ...``), and a chain
    may skip up to two letters after a ``;`` (``C. No.; F. No correct answer``): the skipped letters get empty
    texts, so every letter keeps its written meaning.
    """
    if not isinstance(problem, str) or not problem.strip():
        return None
    text = problem[-MAX_PROBLEM_CHARS:]
    chain: list[re.Match[str] | None] = []
    best: list[re.Match[str] | None] = []
    for m in _MARKER_RE.finditer(text):
        if _EMPTY_AFTER_RE.match(text, m.end()):
            continue
        idx = LETTERS.index(m.group(1) or m.group(2) or m.group(3))
        if idx == 0:
            chain = [m]
        elif chain and idx == len(chain):
            chain.append(m)
        elif chain and len(chain) < idx <= len(chain) + _MAX_LETTER_GAP and text[:m.start()].rstrip().endswith(
                (";", "；")):
            chain += [None] * (idx - len(chain)) + [m]
        else:
            continue
        if len(chain) >= 2:
            best = list(chain)
    if len(best) < 2:
        return None
    options = []
    for k, m in enumerate(best):
        if m is None:
            options.append("")
            continue
        nxt = next((x for x in best[k + 1:] if x is not None), None)
        content = text[m.end():nxt.start() if nxt is not None else len(text)]
        if nxt is None:
            content = content.split("\n", 1)[0]
        options.append(_OPTION_TAIL_RE.sub("", content.strip()))  # "right;  ;" (We-Math 2steps_101) -> "right"
    return options


def strip_prefix(s: str) -> str:
    """Drop "Answer:", "Option", "The correct choice is" and LaTeX text wrappers around a letter."""
    s = unwrap_macros(s.strip()).replace("$", "").strip()
    return _PREFIX_RE.sub("", s).strip()


def read_letter(s: str, n_options: int | None, allow_lower: bool,
                spaced: bool = True) -> tuple[str | None, str | None]:
    """``(letter, content)`` when ``s`` names one option (``B``, ``(B)``, ``B.``, ``B: 14``, ``Option B``).

    ``content`` is what follows the letter (or None). Letters beyond ``n_options`` are not letters; nor is a
    letter followed by an operator (``A = 4``). ``spaced``: also read ``B 14`` (letter, space, content).
    """
    s = strip_prefix(s)
    m = _LETTER_RE.match(s)
    if not m:
        return None, None
    letter = m.group(1)
    content = m.group(2) if m.group(2) is not None else m.group(3)
    if letter.islower() and not allow_lower:
        return None, None
    if m.group(3) is not None:
        # "B 14" is a letter then content, but "a cat" / "b squared" are words, and "A = 4" / "A \cap B" math
        marked = bool(re.match(r"^[(\[]\s*[A-J]\s*[)\]]", s))  # "(C) 154°": brackets mark the letter off
        if not (spaced or marked) or letter.islower():
            return None, None
        # unmarked, a word or an operator after the letter makes it a variable; "(A) a relative maximum",
        # "(C) -5 \leq x \leq 5" are option letters with their text
        if not marked and (re.match(r"^[a-z]", content) or _OPERATOR_START_RE.match(content)):
            return None, None
        if marked and re.match(r"^(?:[=<>≤≥≠]|\\(?:le|ge|leq|geq|ne|neq|lt|gt)(?![A-Za-z]))", content):
            return None, None
    letter = letter.upper()
    if n_options is not None and LETTERS.index(letter) >= n_options:
        return None, None
    return letter, (content.strip() or None) if content is not None else None


def names_several(s: str) -> bool:
    """True when ``s`` names two or more letters ("A, C", "A and B", "(A)(C)")."""
    return bool(_MULTI_RE.match(strip_prefix(s)))


def letters_named(s: str) -> frozenset[str] | None:
    """The set of letters ``s`` names when it names two or more (``C\nD``, ``A, C``, ``(A)(C)``), else None."""
    s = strip_prefix(s)
    if not _MULTI_RE.match(s):
        return None
    letters = frozenset(re.findall(r"[A-J]", re.sub(r"\b(?:and|or)\b", " ", s, flags=re.IGNORECASE).upper()))
    return letters if len(letters) >= 2 else None


def split_gold(gold: str, n_options: int | None = None) -> tuple[str | None, str | None]:
    """The letter-gold rule, stated once: a gold is an option letter when it is a bare letter (``C``, ``(C)``,
    ``C.``) or a letter marked off from the option's text (``C. 154°``, ``C: 154°``, ``(C) 154°``); with
    ``n_options`` given, the letter must be one of them and ``C 154°`` also counts. A letter followed by a
    relation or operator is a variable, never an option: ``A = 4``, ``C = 30^\\circ``, ``A \\cap B``,
    ``D = (0, 1)``. Returns ``(letter, content or None)``, or ``(None, None)``.
    """
    return read_letter(gold, n_options, allow_lower=False, spaced=n_options is not None)
