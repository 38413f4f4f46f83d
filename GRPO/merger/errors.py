"""Errors raised by the merger; each message names the file and/or parameter at fault."""

from __future__ import annotations


class MergeError(ValueError):
    """A checkpoint cannot be merged; nothing was written."""


class CheckpointLayoutError(MergeError):
    """Rank files, world size or fsdp_config.json are missing or disagree."""


class ShardReadError(MergeError):
    """A rank file cannot be opened or does not hold a state dict."""


class ParameterMismatchError(MergeError):
    """A parameter is missing, extra, mis-shaped or sharded inconsistently across ranks."""


class LoraMergeError(MergeError):
    """LoRA adapters are present but cannot be merged into the base weights."""
