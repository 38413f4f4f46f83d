"""Where each stage lives: stage name -> the module exposing its `STAGE`."""

from __future__ import annotations

import importlib

from recipes.stage import Stage

STAGE_MODULES: dict[str, str] = {
    "distill": "SFT.distill.stage",
    "sft_data": "SFT.data_stage",
    "sft": "SFT.train_stage",
    "rl_data": "GRPO.data_stage",
    "grpo": "GRPO.train_stage",
    "merge": "GRPO.merge_stage",
    "eval": "evaluation.stage",
}


def load_stage(name: str) -> Stage:
    """The Stage object for `name` (imported on first use, so a CPU-only stage never imports verl)."""
    module_name = STAGE_MODULES[name]
    stage = importlib.import_module(module_name).STAGE
    if stage.name != name:
        raise RuntimeError(f"{module_name}.STAGE is named {stage.name!r}, expected {name!r}")
    return stage
