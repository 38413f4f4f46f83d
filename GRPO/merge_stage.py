"""The `merge` stage: the grpo stage's checkpoint as one Hugging Face model, through the same GRPO backend.

verl: the recorded step (verl's last save), or `merge.step=N`, `global_step_N/actor` beside it, is merged by
GRPO.merger into `runs/<run>/merge/model`. ms-swift: the checkpoint already is a Hugging Face model; it is
validated (every tensor readable and finite, parameter count equal to the architecture's) and recorded as the
model. Outputs: `model`, `checkpoint` (what it was made from) and the backend's figures.
"""

from __future__ import annotations

from pathlib import Path

from GRPO.train_stage import backend
from recipes.stage import Stage, StageContext, StagePlan
from recipes.stage_outputs import MergeOutputs


class MergeStage(Stage[MergeOutputs]):
    name = "merge"
    config_keys = ("merge", "grpo.backend")
    depends_on = ("grpo",)

    @staticmethod
    def _target(ctx: StageContext) -> Path:
        return ctx.stage_dir / "model"

    def plan(self, ctx: StageContext) -> StagePlan:
        return backend(ctx.cfg).plan_hf_model(ctx, self._target(ctx))

    def run(self, ctx: StageContext) -> MergeOutputs:
        return backend(ctx.cfg).make_hf_model(ctx, self._target(ctx))


STAGE = MergeStage()
