"""Config values as ms-swift command-line items (shared by `swift sft` and `swift rlhf` flag maps)."""

from __future__ import annotations

import json
from typing import Any

from omegaconf import OmegaConf


def flag_value(value: Any) -> list[str]:
    """argv items for one flag: booleans as true/false, lists as several items, dicts as JSON, whole floats
    >= 1 as integers (ms-swift parses `--save_steps 76`, not `76.0`)."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True)]
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return [str(int(value))]
    return [str(value)]
