"""What the three reward faces share: reading item fields and combining accuracy with format."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from reward_fns.choices import parse_options
from reward_fns.formatting import format_ok
from reward_fns.grader import grade
from reward_fns.timeout import get_pool

WARM_ENV = "RLCS_REWARD_WARM"


def warm_pool_in_background() -> None:
    """Start the symbolic workers now, in the background: a trainer loads its reward face long before its
    first batch, so the first checks find a ready pool instead of waiting seconds for sympy to import.
    `RLCS_REWARD_WARM=0` turns it off."""
    if os.environ.get(WARM_ENV, "1") in ("0", "false", "no"):
        return
    threading.Thread(target=get_pool().warm, name="rlcs-reward-warm", daemon=True).start()


def _seq(value: Any) -> list[str] | None:
    """A list of option strings from a list / tuple / numpy array (parquet), else None."""
    if value is None or isinstance(value, (str, bytes, Mapping)):
        return None
    try:
        items = [str(v) for v in value]
    except TypeError:
        return None
    return items or None


def item_fields(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` / ``problem`` / ``precision`` from an item's extra fields (several spellings)."""
    extra = extra if isinstance(extra, Mapping) else {}
    options = None
    for key in ("options", "choices", "option"):
        value = extra.get(key)
        # a list of option texts, or one string listing them ("A. 3; B. 4", We-Math's `option`)
        options = parse_options(value) if isinstance(value, str) else _seq(value)
        if options:
            break
    problem = next((extra[k] for k in ("problem", "question", "query") if isinstance(extra.get(k), str)), None)
    return {"options": options, "problem": problem, "precision": extra.get("precision")}


def score_response(response: str, ground_truth: Any, extra: Mapping[str, Any] | None = None,
                   format_weight: float = 0.0, limit_s: float | None = None) -> dict[str, Any]:
    """``{score, acc, format, pred, reason, ...}``; score = (1 - w) * acc + w * format. Never raises.

    Never blocks longer than ``limit_s`` (default ``RLCS_REWARD_TIMEOUT``, 3 s) plus a small constant (the
    tests allow 1 s on a contended CPU), whatever the load: a symbolic check that overruns scores 0 with
    reason ``symbolic_timeout`` and is not retried (a trainer's batch must not wait). Only a process's first
    symbolic check also waits for the worker pool's start-up.
    """
    try:
        fields = item_fields(extra)
        v = grade(response, ground_truth, limit_s=limit_s, timeout_retries=0, **fields)
        fmt_ok, fmt_reason = format_ok(response) if format_weight else (False, "off")
        acc = 1.0 if v.correct else 0.0
        fmt = 1.0 if fmt_ok else 0.0
        w = float(format_weight or 0.0)
        return {"score": (1.0 - w) * acc + w * fmt, "acc": acc, "format": fmt, "pred": v.pred or "",
                "reason": v.reason, "format_reason": fmt_reason}
    except Exception as e:  # pragma: no cover - grade() already never raises
        return {"score": 0.0, "acc": 0.0, "format": 0.0, "pred": "", "reason": f"error:{type(e).__name__}",
                "format_reason": "error"}
