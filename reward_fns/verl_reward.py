"""verl face: ``custom_reward_function.path=reward_fns/verl_reward.py`` (or ``pkg://reward_fns.verl_reward``),
``custom_reward_function.name=compute_score``; ``reward_kwargs`` may set ``format_weight`` / ``timeout``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if "reward_fns" not in sys.modules:  # loaded by file path (verl's load_module): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reward_fns._faces import score_response, warm_pool_in_background

warm_pool_in_background()  # loaded by the trainer at start-up: the pool is ready by the first batch


def compute_score(data_source: str | None, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  format_weight: float = 0.0, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
    """Score one decoded response: ``{"score": float, "acc", "format", "pred", "reason", ...}``.

    Accuracy on the last ``\\boxed{}`` (the paper); options / problem / precision come from ``extra_info``.
    Extra keyword arguments verl passes (``reward_router_address``, ...) are ignored.
    """
    return score_response(solution_str, ground_truth, extra_info, format_weight=format_weight, limit_s=timeout)
