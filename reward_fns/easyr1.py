"""EasyR1 face: ``worker.reward.score_function=reward_fns/easyr1.py:compute_score`` with
``reward_type=batch``. Each input has ``response`` and ``ground_truth`` (and optional ``options``,
``problem``, ``precision``); each output has ``overall``, ``accuracy``, ``format``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if "reward_fns" not in sys.modules:  # loaded by file path: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reward_fns._faces import score_response, warm_pool_in_background

warm_pool_in_background()  # loaded by the trainer at start-up: the pool is ready by the first batch


def compute_score(reward_inputs: list[dict[str, Any]], format_weight: float = 0.0,
                  timeout: float | None = None) -> list[dict[str, float]]:
    """Batch scores in EasyR1's shape: ``[{"overall", "accuracy", "format"}, ...]``."""
    if not isinstance(reward_inputs, list):
        raise ValueError("reward_fns.easyr1.compute_score expects a list of dicts (use reward_type=batch).")
    out = []
    for item in reward_inputs:
        r = score_response(item.get("response", ""), item.get("ground_truth"), item, format_weight, timeout)
        out.append({"overall": r["score"], "accuracy": r["acc"], "format": r["format"]})
    return out
