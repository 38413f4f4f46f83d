"""The paper's ablations as one recipe option, `ablation=<name>`, and the one place that decides which model
each stage starts from.

`full` is the paper's recipe (SFT cold start, then GRPO). `rl_only` runs GRPO from the base model (no SFT
stages), `sft_only` evaluates the SFT checkpoint (no GRPO), `base` evaluates the base model alone: the four
rows of the paper's claim (1). A non-full ablation keeps only its stages (of those `stages=` names) and, unless
`run_name=` is given, writes to `<run_name>_<ablation>` so it never mixes with the full run's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from recipes.stage import STAGES

FULL = "full"

MODEL_PRODUCERS: dict[str, tuple[tuple[str, str], ...]] = {
    "grpo": (("sft", "checkpoint"),),
    "eval": (("merge", "model"), ("grpo", "checkpoint"), ("sft", "checkpoint")),
}
"""Stage -> (upstream stage, output key) it may start from, newest first; with none of them in the
ablation, the stage starts from `model.path` (the base model). A checkpoint whose `format` is not a Hugging Face
model (verl's FSDP shards) is not a model until `merge` ran: the eval stage refuses it (evaluation/stage.py)."""


@dataclass(frozen=True)
class Ablation:
    """One row of the paper's claim (1)."""

    description: str
    stages: tuple[str, ...]
    """The stages this ablation may run (pipeline order); `distill` only where `stages=` names it."""


ABLATIONS: dict[str, Ablation] = {
    FULL: Ablation("SFT cold start, then GRPO (the paper's recipe)", STAGES),
    "rl_only": Ablation("GRPO from the base model, no SFT", ("rl_data", "grpo", "merge", "eval")),
    "sft_only": Ablation("the SFT checkpoint, no GRPO", ("distill", "sft_data", "sft", "eval")),
    "base": Ablation("the base model, no training", ("eval",)),
}


class AblationError(ValueError):
    """An unknown ablation, or one whose stages do not meet `stages=`."""


def ablation_of(cfg: DictConfig) -> str:
    """The config's ablation name (`full` when the config predates the option)."""
    return str(OmegaConf.select(cfg, "ablation", default=FULL) or FULL)


def _override_keys(overrides: Sequence[str]) -> set[str]:
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides}


def apply_ablation(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Narrow `cfg.stages` to the ablation's stages and give it its own run name (in place; `cfg` writable)."""
    name = ablation_of(cfg)
    if name not in ABLATIONS:
        raise AblationError(f"unknown ablation {name!r}; choose one of: {', '.join(ABLATIONS)}")
    if name == FULL:
        return
    wanted = ABLATIONS[name].stages
    kept = [s for s in cfg.stages if s in wanted]
    if not kept:
        raise AblationError(f"ablation={name} runs stages {list(wanted)}, none of which is in stages="
                            f"{list(cfg.stages)}")
    cfg.stages = kept
    if "run_name" not in _override_keys(overrides):
        cfg.run_name = f"{cfg.run_name}_{name}"


def starts_from(cfg: DictConfig, stage: str) -> tuple[tuple[str, str], ...]:
    """(upstream stage, output key) pairs `stage` may start from under the config's ablation, newest first;
    empty: it starts from the base model (`model.path`)."""
    allowed = ABLATIONS.get(ablation_of(cfg), ABLATIONS[FULL]).stages
    return tuple((s, k) for s, k in MODEL_PRODUCERS.get(stage, ()) if s in allowed)
