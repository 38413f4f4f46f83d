"""Stage 4, `grpo`: the backend `grpo.backend` names trains the actor (verl on Ray, or ms-swift on one node).

Both backends are peers with one shape (`GRPOBackend`): GRPO/verl_backend.py (the paper's) and
GRPO/swift_backend.py. They train into `runs/<run>/grpo/checkpoints` and record the same outputs:
`checkpoint` (the newest saved checkpoint), `format` (`verl_fsdp` or `hf`, see recipes.stage_outputs.HF_MODEL) and
`step`; the merge stage turns the checkpoint into a Hugging Face model through the same backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from omegaconf import DictConfig

from GRPO import swift_backend, verl_backend
from recipes.ablation import starts_from
from recipes.checks import Problem
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import GrpoOutputs, MergeOutputs


class GRPOBackend(Protocol):
    """What a GRPO backend module provides to the grpo and merge stages."""

    def plan(self, ctx: StageContext, model: str, out: Path) -> StagePlan:
        """The grpo stage's plan for training `model` into `out`."""

    def run(self, ctx: StageContext, model: str, out: Path) -> GrpoOutputs:
        """Train (resuming from `out`); return the outputs `checkpoint`, `format`, `step` (and its own)."""

    def plan_hf_model(self, ctx: StageContext, target: Path) -> StagePlan:
        """The merge stage's plan for making grpo's checkpoint a Hugging Face model (at `target` if written)."""

    def make_hf_model(self, ctx: StageContext, target: Path) -> MergeOutputs:
        """Make grpo's checkpoint a Hugging Face model; return the outputs, `model` among them."""

    def validate(self, cfg: DictConfig) -> list[Problem]:
        """The backend's own check of the settings (its tool's config code or parser), before anything runs."""


BACKENDS: dict[str, GRPOBackend] = {"verl": verl_backend, "swift": swift_backend}


def backend(cfg: DictConfig) -> GRPOBackend:
    """The backend module `grpo.backend` names."""
    name = str(cfg.grpo.backend)
    if name not in BACKENDS:
        raise StageError(f"grpo.backend={name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


class GRPOStage(Stage[GrpoOutputs]):
    name = "grpo"
    depends_on = ("rl_data", "sft")
    config_keys = ("grpo", "data.max_prompt_length", "data.system_prompt", "cluster.nnodes",
                   "cluster.nproc_per_node", "cluster.device", "model.path",
                   "model.template", "model.torch_dtype")  # the swift backend's --template / --torch_dtype

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        if "sft" in cfg.stages:
            return []
        return [HubRef(cfg.model.path, "model")]  # no SFT in this run: it may start from the base model

    def _actor_model(self, ctx: StageContext) -> str:
        """The SFT checkpoint (when this run's ablation has SFT and the run made or makes one), else the base."""
        for stage, key in starts_from(ctx.cfg, "grpo"):
            if stage in ctx.cfg.stages or ctx.has_output(stage, key):
                return ctx.output_of(stage, key)
        return ctx.resolve(ctx.cfg.model.path)

    @staticmethod
    def _out(ctx: StageContext) -> Path:
        return (ctx.stage_dir / "checkpoints").resolve()

    def validate(self, cfg: DictConfig) -> list[Problem]:
        """The backend's own check: verl's config code over the overrides, or ms-swift's parser over the flags."""
        return backend(cfg).validate(cfg) if str(cfg.grpo.backend) in BACKENDS else []

    def plan(self, ctx: StageContext) -> StagePlan:
        return backend(ctx.cfg).plan(ctx, self._actor_model(ctx), self._out(ctx))

    def run(self, ctx: StageContext) -> GrpoOutputs:
        return backend(ctx.cfg).run(ctx, self._actor_model(ctx), self._out(ctx))


STAGE = GRPOStage()
