"""ms-swift face: ``swift rlhf --rlhf_type grpo --external_plugins reward_fns/swift_orm.py
--reward_funcs rlcs_accuracy`` (also ``rlcs_format``). Dataset columns ``solution`` (gold) and optional
``options`` / ``problem`` / ``precision`` reach the ORM as keyword lists. Importing this file imports swift."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if "reward_fns" not in sys.modules:  # loaded by file path (--external_plugins): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swift.rewards import ORM, orms

from reward_fns._faces import score_response
from reward_fns.formatting import format_ok


def _completion_text(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list) and c and isinstance(c[-1], dict):  # conversational completions
        return str(c[-1].get("content", ""))
    return str(c)


class RLCSAccuracy(ORM):
    """Accuracy of the last ``\\boxed{}`` (the paper's reward), multiple-choice aware; 1.0 or 0.0."""

    def __call__(self, completions: list[Any], solution: list[Any], **kwargs: Any) -> list[float]:
        scores = []
        for i, (completion, gold) in enumerate(zip(completions, solution)):
            extra = {k: v[i] for k, v in kwargs.items()
                     if k in ("options", "choices", "problem", "question", "precision")
                     and isinstance(v, (list, tuple)) and i < len(v)}
            scores.append(score_response(_completion_text(completion), gold, extra)["acc"])
        return scores


class RLCSFormat(ORM):
    """1.0 for one well-formed reasoning-then-answer response (repeated tags or boxes score 0)."""

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        return [1.0 if format_ok(_completion_text(c))[0] else 0.0 for c in completions]


orms["rlcs_accuracy"] = RLCSAccuracy
orms["rlcs_format"] = RLCSFormat
