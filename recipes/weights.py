"""A cheap structural check of safetensors weight files (header and sizes, no tensor read): a truncated or
corrupt file is named before a trainer or an engine fails deep inside its loader."""

from __future__ import annotations

import json
import struct
from pathlib import Path


class WeightsError(ValueError):
    """A weight file that cannot be loaded; the message names it."""


def check_safetensors(path: str | Path) -> None:
    """`path` has a readable safetensors header and is as long as the header says."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise WeightsError(f"{path}: {size} bytes, too short for a safetensors file (truncated?)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise WeightsError(f"{path}: header of {n} bytes but the file has {size} (truncated?)")
            header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: not a safetensors file (unreadable header: {err})") from err
    end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise WeightsError(f"{path}: {size} bytes but its tensors need {8 + n + end} (truncated: copy it again)")


def check_weights_dir(model_dir: str | Path) -> None:
    """Every `*.safetensors` file of a model directory passes `check_safetensors`."""
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        check_safetensors(f)
