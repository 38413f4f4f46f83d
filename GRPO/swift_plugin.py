"""ms-swift plugin (`swift rlhf --external_plugins <this file>`): reward_fns' ORM on verl's parquet columns.

ms-swift reads the rl_data parquet as is (`--columns '{"prompt": "messages"}'`) and hands every other column
to the reward as a keyword list, so the gold answer arrives as ``reward_model[i]["ground_truth"]`` and the
options as ``extra_info[i]["options"]``. The ORMs here put them where reward_fns' ms-swift face reads them
(``solution``, ``options``) and call it. Registered names: ``rlcs_verl_accuracy``, ``rlcs_verl_format``.

With ``RLCS_REWARD_TRACE=<file>`` set, every call appends one JSON line (what the reward saw and gave).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if "reward_fns" not in sys.modules:  # imported by file path: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swift.rewards import ORM, orms

from reward_fns.swift_orm import RLCSAccuracy, RLCSFormat

TRACE_ENV = "RLCS_REWARD_TRACE"


def _plain(value: Any) -> Any:
    """numpy arrays / tuples from parquet as lists (JSON-able, and what the grader expects)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def verl_columns_to_orm(n: int, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``solution`` / ``options`` lists (length n) from verl's ``reward_model`` / ``extra_info`` columns.

    Raises ValueError naming the row when a row has no ground truth (a converter bug, not a 0 reward).
    """
    if "solution" in kwargs:  # already an ms-swift dataset
        return {}
    rms = kwargs.get("reward_model")
    if not isinstance(rms, Sequence) or len(rms) != n:
        raise ValueError(f"the GRPO data has no `reward_model` column with one entry per completion (got "
                         f"{type(rms).__name__}); expected the rl_data parquet in verl's schema")
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


class VerlAccuracy(ORM):
    """reward_fns' accuracy (the paper's reward) on rows in verl's schema; 1.0 or 0.0 per completion."""

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        super().__init__(args, **kwargs)
        self._inner = RLCSAccuracy(args, **kwargs)

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        kwargs = {**kwargs, **verl_columns_to_orm(len(completions), kwargs)}
        rewards = self._inner(completions, **kwargs)
        _trace("accuracy", completions, kwargs, rewards)
        return rewards


class VerlFormat(ORM):
    """reward_fns' format term on rows in verl's schema."""

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        super().__init__(args, **kwargs)
        self._inner = RLCSFormat(args, **kwargs)

    def __call__(self, completions: list[Any], **kwargs: Any) -> list[float]:
        rewards = self._inner(completions, **kwargs)
        _trace("format", completions, kwargs, rewards)
        return rewards


orms["rlcs_verl_accuracy"] = VerlAccuracy
orms["rlcs_verl_format"] = VerlFormat
