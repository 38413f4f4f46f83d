"""Checks that run before `swift sft` starts: the dataset, its images, the model directory."""

from __future__ import annotations

import json
from pathlib import Path

from recipes.stage import StageError


class SFTInputError(StageError):
    """An SFT input that would make training fail (or silently train on the wrong thing)."""


PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
"""Either file makes a directory loadable with `AutoProcessor` (transformers 4.x / 5.x layouts)."""


def check_model_dir(path: str | Path) -> None:
    """A local model directory with weights config, tokenizer and image processor."""
    path = Path(path)
    if not path.is_dir():
        raise SFTInputError(f"model {path} is not a directory (hub ids are fetched before the stage runs)")
    missing = [f for f in ("config.json",) if not (path / f).is_file()]
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        missing.append("tokenizer.json or tokenizer_config.json")
    if not any((path / f).is_file() for f in PROCESSOR_FILES):
        missing.append(" or ".join(PROCESSOR_FILES) + " (the image processor)")
    if missing:
        raise SFTInputError(
            f"model {path} cannot be trained on images: missing {', '.join(missing)}; point model.path at a "
            "full checkpoint of a family in recipes/families.py (model, tokenizer and processor), e.g. "
            "Qwen/Qwen2.5-VL-7B-Instruct"
        )
    from recipes.weights import WeightsError, check_weights_dir

    try:
        check_weights_dir(path)
    except WeightsError as err:
        raise SFTInputError(f"model {err}") from err


def check_dataset(path: str | Path) -> int:
    """Validate an ms-swift JSONL (`messages` + `images`); return its row count.

    Every row must parse, have a user and an assistant message, as many images as `<image>` tags, and
    every image file must exist (ms-swift opens paths as given: absolute, or relative to the working dir).
    """
    path = Path(path)
    if not path.is_file():
        raise SFTInputError(f"SFT dataset {path} does not exist (run the sft_data stage first)")
    rows = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SFTInputError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
                raise SFTInputError(f"{where}: expected an object with a 'messages' list (ms-swift format)")
            roles = [m.get("role") for m in row["messages"] if isinstance(m, dict)]
            if "user" not in roles or "assistant" not in roles:
                raise SFTInputError(f"{where}: 'messages' needs a user and an assistant turn, has roles {roles}")
            images = row.get("images") or []
            tags = sum(str(m.get("content", "")).count("<image>") for m in row["messages"] if isinstance(m, dict))
            if tags != len(images):
                raise SFTInputError(f"{where}: {tags} <image> tag(s) but {len(images)} image(s) in 'images'")
            for img in images:
                ref = img.get("path") if isinstance(img, dict) else img
                if not isinstance(ref, str):
                    raise SFTInputError(f"{where}: image entry {img!r} is not a file path")
                if not Path(ref).is_file():
                    raise SFTInputError(f"{where}: image {ref} does not exist")
            rows += 1
    if rows == 0:
        raise SFTInputError(f"SFT dataset {path} is empty: no training rows")
    return rows
