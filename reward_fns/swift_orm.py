"""ms-swift face: ``swift rlhf --rlhf_type grpo --external_plugins reward_fns/swift_orm.py
--reward_funcs rlcs_accuracy`` (also ``rlcs_format``). Importing this file imports swift.

The gold answer and options reach the ORM as keyword lists, one entry per completion: from an ms-swift dataset's
``solution`` (gold) and optional ``options`` / ``problem`` / ``precision`` columns, or from the rl_data parquet read
as is (verl's schema, what GRPO/swift_flags.py passes): ``reward_model[i]["ground_truth"]`` and
``extra_info[i]["options"]``. With ``RLCS_REWARD_TRACE=<file>`` set, every call appends one JSON line (what the
reward saw and gave).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if "reward_fns" not in sys.modules:  # loaded by file path (--external_plugins): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swift.rewards import ORM, orms

from reward_fns._faces import score_response, warm_pool_in_background
from reward_fns.formatting import format_ok

TRACE_ENV = "RLCS_REWARD_TRACE"
EXTRA_COLUMNS = ("options", "choices", "problem", "question", "precision")
"""Dataset columns handed to the grader with the gold answer."""


def _plain(value: Any) -> Any:
    """numpy arrays / tuples from parquet as lists (JSON-able, and what the grader expects)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _completion_text(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list) and c and isinstance(c[-1], dict):  # conversational completions
        return str(c[-1].get("content", ""))
    return str(c)


def verl_columns_to_orm(n: int, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``solution`` / ``options`` lists (length n) from verl's ``reward_model`` / ``extra_info`` columns;
    nothing when the rows already carry ``solution`` (an ms-swift dataset).

    Raises ValueError naming the row when a row has no ground truth (a converter bug, not a 0 reward).
    """
    if "solution" in kwargs:
        return {}
    rms = kwargs.get("reward_model")
    if not isinstance(rms, Sequence) or len(rms) != n:
        raise ValueError(f"the GRPO data has no `solution` column and no `reward_model` column with one entry "
                         f"per completion (got {type(rms).__name__}); expected the rl_data parquet in verl's schema")
    extras = kwargs.get("extra_info")
    solution, options = [], []
    for i, rm in enumerate(rms):
        if not isinstance(rm, Mapping) or rm.get("ground_truth") is None:
            raise ValueError(f"completion {i}: reward_model={rm!r} has no `ground_truth`")
        solution.append(_plain(rm["ground_truth"]))
        extra = extras[i] if isinstance(extras, Sequence) and i < len(extras) else None
        opts = _plain(extra.get("options")) if isinstance(extra, Mapping) else None
        options.append(opts or None)
    return {"solution": solution, "options": options}


def _trace(name: str, completions: Sequence[Any], kwargs: Mapping[str, Any], rewards: Sequence[float]) -> None:
    path = os.environ.get(TRACE_ENV)
    if not path:
        return
    record = {
        "reward": name,
        "completions": [c if isinstance(c, str) else repr(c) for c in completions],
        "solution": [_plain(s) for s in kwargs.get("solution", [])],
        "options": [_plain(o) for o in kwargs.get("options", []) or []],
        "kwargs": sorted(kwargs),
        "rewards": list(rewards),
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=repr) + "\n")


class RLCSAccuracy(ORM):
    """Accuracy of the last ``\\boxed{}`` (the paper's reward), multiple-choice aware; 1.0 or 0.0."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        warm_pool_in_background()  # built at trainer start-up: the pool is ready by the first batch

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        kwargs = {**kwargs, **verl_columns_to_orm(len(completions), kwargs)}
        scores = []
        for i, (completion, gold) in enumerate(zip(completions, kwargs["solution"])):
            extra = {k: v[i] for k, v in kwargs.items()
                     if k in EXTRA_COLUMNS and isinstance(v, (list, tuple)) and i < len(v)}
            scores.append(score_response(_completion_text(completion), gold, extra)["acc"])
        _trace("accuracy", completions, kwargs, scores)
        return scores


class RLCSFormat(ORM):
    """1.0 for one well-formed reasoning-then-answer response (repeated tags or boxes score 0)."""

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        scores = [1.0 if format_ok(_completion_text(c))[0] else 0.0 for c in completions]
        _trace("format", completions, kwargs, scores)
        return scores


orms["rlcs_accuracy"] = RLCSAccuracy
orms["rlcs_format"] = RLCSFormat
