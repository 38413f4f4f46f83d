"""Pull the final answer out of a model response: the last ``\\boxed{}``, else the last ``<answer>`` tag."""

from __future__ import annotations

import re

# ``\boxed{`` / ``\boxed {`` / ``\fbox{`` (the brace is matched by hand to handle nesting).
_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
# ``\boxed 5`` (no braces: a single token).
_BOX_TOKEN_RE = re.compile(r"\\boxed\s+([^\s{}$\\]+)")
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


def _match_brace(text: str, open_idx: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``open_idx`` (escaped braces ignored), or None if unbalanced."""
    depth = 0
    i = open_idx
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_BRACE_TOKEN_RE = re.compile(r"\\[{}]|[{}]")


def _brace_pairs(text: str, start: int = 0) -> dict[int, int]:
    """Index of each ``{`` from ``start`` on -> index of its ``}`` (escaped braces ignored), in one pass over the
    braces; what precedes ``start`` cannot change how the braces after it match."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE_TOKEN_RE.finditer(text, start):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def box_spans(text: str) -> list[tuple[int, int, str | None]]:
    """All ``\\boxed`` occurrences as ``(start, end, content)``; content None when the box never closes.

    Linear in ``len(text)`` (thousands of unclosed boxes cost milliseconds, not seconds)."""
    spans: list[tuple[int, int, str | None]] = []
    first = _BOX_RE.search(text)
    pairs = _brace_pairs(text, first.start()) if first else {}
    for m in _BOX_RE.finditer(text):
        close = pairs.get(m.end() - 1)
        if close is None:
            spans.append((m.start(), len(text), None))
        else:
            spans.append((m.start(), close + 1, text[m.end() : close]))
    for m in _BOX_TOKEN_RE.finditer(text):
        spans.append((m.start(), m.end(), m.group(1)))
    spans.sort()
    return spans


def _last_box_match(text: str) -> re.Match[str] | None:
    """The last ``\\boxed{`` / ``\\fbox{`` / ``\\boxed 5`` occurrence (by start), or None."""
    last: re.Match[str] | None = None
    for rx in (_BOX_RE, _BOX_TOKEN_RE):
        for m in rx.finditer(text):
            if last is None or m.start() > last.start():
                last = m
    return last


def _box_content(text: str, m: re.Match[str] | None) -> str | None:
    if m is None:
        return None
    if m.re is _BOX_TOKEN_RE:
        return m.group(1)
    close = _match_brace(text, m.end() - 1)
    return None if close is None else text[m.end() : close]


def last_answer_tag(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>`` block, or None."""
    matches = _ANSWER_RE.findall(text)
    return matches[-1] if matches else None


def extract_answer(response: str) -> str | None:
    """The final answer of ``response``: last ``\\boxed{}`` content, else ``<answer>`` content, else None.

    A box that never closes (a truncated response) counts as no answer. The result is stripped.
    """
    if not isinstance(response, str) or not response:
        return None
    last = _last_box_match(response)
    if last is not None:
        boxed = _box_content(response, last)
        return boxed.strip() if boxed is not None else None
    tag = last_answer_tag(response)
    return tag.strip() if tag is not None else None
