"""The optional format term: one well-formed reasoning-then-answer response (weight 0 in the paper)."""

from __future__ import annotations

import re

from reward_fns.extract import box_spans

MIN_REASONING_CHARS = 20
MAX_TRAILING_CHARS = 200
_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"


def format_ok(response: str) -> tuple[bool, str]:
    """``(ok, reason)``: reasoning (optionally in one ``<think>...</think>`` at the start), then exactly one
    final answer (one closed, non-empty ``\\boxed{}``, or without any box one ``<answer>`` block), then at
    most a short tail. Repeated tags or boxes fail, so the term cannot be farmed."""
    if not isinstance(response, str) or not response.strip():
        return False, "empty"
    text = response.strip()
    n_open, n_close = text.count("<think>"), text.count("</think>")
    body_start = 0
    if (n_open, n_close) == (1, 1):
        if not text.startswith("<think>") or text.index("</think>") < text.index("<think>"):
            return False, "think_misplaced"
        body_start = text.index("</think>") + len("</think>")
    elif (n_open, n_close) != (0, 0):
        return False, "think_tags"
    n_ans_open, n_ans_close = text.count(_ANSWER_OPEN), text.count(_ANSWER_CLOSE)
    if n_ans_open > 1 or n_ans_close > 1 or n_ans_open != n_ans_close:
        return False, "answer_tags"
    boxes = box_spans(text)
    if len(boxes) > 1:
        return False, "several_boxes"
    if boxes:
        start, end, content = boxes[0]
        if content is None or not content.strip():
            return False, "bad_box"
        if n_ans_open == 1 and not (text.index(_ANSWER_OPEN) < start and end <= text.index(_ANSWER_CLOSE)):
            return False, "box_outside_answer_tag"
    elif n_ans_open == 1:
        start = text.index(_ANSWER_OPEN)
        end = text.index(_ANSWER_CLOSE) + len(_ANSWER_CLOSE)
        if end < start or not text[start + len(_ANSWER_OPEN) : end - len(_ANSWER_CLOSE)].strip():
            return False, "bad_answer_tag"
    else:
        return False, "no_answer"
    if n_ans_open == 1:
        start = min(start, text.index(_ANSWER_OPEN))
        end = max(end, text.index(_ANSWER_CLOSE) + len(_ANSWER_CLOSE))
    if start < body_start:
        return False, "answer_inside_think"
    reasoning = text[:start].replace("<think>", "").replace("</think>", "")
    if len(re.sub(r"\s+", "", reasoning)) < MIN_REASONING_CHARS:
        return False, "no_reasoning"
    if len(text) - end > MAX_TRAILING_CHARS:
        return False, "long_tail"
    return True, "ok"
