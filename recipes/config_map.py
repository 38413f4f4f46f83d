"""The one row type of the three config -> upstream maps: GRPO/verl_overrides.py (`VERL_OVERRIDES`, verl
Hydra keys), GRPO/swift_flags.py (`SWIFT_RLHF_FLAGS`, `swift rlhf` flags) and SFT/flags.py
(`SWIFT_SFT_FLAGS`, `swift sft` flags). Each tool's command module assembles its command from its map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

SKIP = object()
"""A row's value that means "pass nothing" (e.g. vLLM flags when rollouts use transformers)."""


@dataclass(frozen=True)
class MapRow:
    """One setting of ours and what it becomes upstream."""

    key: str
    """Our config key (`grpo.*`, `data.*`, ...), or the paper module's parenthesised name for a setting with none."""
    target: str | None
    """The upstream key or flag (without `--`; `NAME (env)` for an environment variable), or None when the
    tool has no counterpart (then `warn` says what happens) or, with a value, when the value is several flags
    given whole (the tracking flags of `swift sft`)."""
    value: Callable[[DictConfig], Any] | None = None
    """The upstream value from the composed config (SKIP passes nothing; may raise the tool's config error)."""
    note: str = ""
    """How the conversion reads the config, or how the tool differs, where it is more than a copy."""
    warn: Callable[[DictConfig], str | None] | None = None
    """A warning for this run's config, or None (for settings the tool cannot honour as given)."""
