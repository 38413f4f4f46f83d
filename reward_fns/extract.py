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


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of each ``{`` -> index of its ``}`` (escaped braces ignored), in one pass over the braces."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE_TOKEN_RE.finditer(text):
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
    pairs = _brace_pairs(text) if _BOX_RE.search(text) else {}
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


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces handled); None if absent or left unclosed."""
    spans = box_spans(text)
    if not spans:
        return None
    return spans[-1][2]


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
    if _BOX_RE.search(response) or _BOX_TOKEN_RE.search(response):
        boxed = last_boxed(response)
        return boxed.strip() if boxed is not None else None
    tag = last_answer_tag(response)
    return tag.strip() if tag is not None else None
