"""A second reading of box-less responses, reported in its own column and never in the headline.

The headline grades only the last `\\boxed{}` (else `<answer>`), as the reward does. Base and SFT models
often end in prose instead; this reads "the (final) answer is X" / "Answer: X", else a final option
letter, so the report can show how much the box requirement alone costs.
"""

from __future__ import annotations

import re

from reward_fns.choices import LETTERS

_ANSWER_IS_RE = re.compile(
    r"(?:final\s+answer|answer|correct\s+(?:option|choice))\s*(?:is|would\s+be|should\s+be|[:：])\s*[:：]?\s*"
    r"(?P<ans>[^\n]+)", re.IGNORECASE)
_TAIL_CHARS = 300


def _tidy(text: str) -> str:
    text = text.strip().strip("*").strip()
    text = re.sub(r"^\$+|\$+$", "", text).strip()
    text = re.sub(r"[.。]\s*$", "", text).strip()
    return text.strip("*").strip()


def _final_letter(tail: str, n_options: int) -> str | None:
    letters = LETTERS[:n_options]
    hits = re.findall(rf"(?:\(([{letters}])\)|(?<![A-Za-z])([{letters}])(?:[.)：:]|\s*$))", tail)
    return (hits[-1][0] or hits[-1][1]) if hits else None


def fallback_answer(response: str, n_options: int | None = None) -> str | None:
    """The answer a box-less `response` states last ("the answer is X"), else (for an item with
    `n_options` options) the option letter its last lines name; None when neither is found."""
    if not response:
        return None
    found = list(_ANSWER_IS_RE.finditer(response))
    if found:
        ans = _tidy(found[-1].group("ans"))
        if ans:
            return ans
    if n_options:
        return _final_letter(response[-_TAIL_CHARS:], n_options)
    return None
