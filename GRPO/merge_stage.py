"""The `merge` stage: verl's FSDP shards -> one Hugging Face model; ms-swift checkpoints pass through.

verl backend: the grpo stage's final step (its recorded `final_step`, i.e. verl's last save), or
`merge.step=N`, `global_step_N/actor` under the grpo stage's checkpoint dir, is merged by GRPO.merger into `runs/<run>/merge/model`. swift backend: ms-swift already saved a
Hugging Face checkpoint, which is validated (every tensor readable and finite, parameter count equal
to the architecture's) and recorded as the model.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from recipes.stage import Command, Stage, StageContext, StagePlan


class MergeStage(Stage):
    name = "merge"
    config_keys = ("merge", "grpo.backend")
    depends_on = ("grpo",)

    def _target(self, ctx: StageContext):
        return ctx.stage_dir / "model"

    def plan(self, ctx: StageContext) -> StagePlan:
        if ctx.cfg.grpo.backend == "swift":
            ckpt = ctx.output_of("grpo", "checkpoint")
            return StagePlan(notes=[f"validate the ms-swift checkpoint {ckpt} and record it (no merge needed)"],
                             outputs={"model": ckpt})
        argv = [sys.executable, "-m", "GRPO.merger", "merge", "--local_dir", self._actor(ctx, planning=True),
                "--target_dir", str(self._target(ctx)), "--max_shard_size", str(ctx.cfg.merge.max_shard_size)]
        if ctx.cfg.merge.dtype:
            argv += ["--dtype", str(ctx.cfg.merge.dtype)]
        return StagePlan(commands=[Command(argv)], outputs={"model": str(self._target(ctx))},
                         notes=["runs in-process; the command is its standalone equivalent"])

    @staticmethod
    def _step(ctx: StageContext) -> int | None:
        """`merge.step` when given, else the grpo stage's final step (None: not recorded yet)."""
        if ctx.cfg.merge.step is not None:
            return int(ctx.cfg.merge.step)
        if ctx.has_output("grpo", "final_step"):
            return int(ctx.output_of("grpo", "final_step"))
        return None

    def _actor(self, ctx: StageContext, planning: bool = False) -> str:
        ckpt_dir = ctx.output_of("grpo", "checkpoint_dir")
        step = self._step(ctx)
        if planning and not ctx.has_output("grpo", "checkpoint_dir"):
            label = step if step is not None else "<final> (grpo's last step; merge.step=N picks another)"
            return f"{ckpt_dir}/global_step_{label}/actor"
        from GRPO.merger import find_latest_actor_dir

        return str(find_latest_actor_dir(ckpt_dir, step=step))

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if ctx.cfg.grpo.backend == "swift":
            from GRPO.swift_backend import validate_swift_checkpoint

            info = validate_swift_checkpoint(ctx.output_of("grpo", "checkpoint"))
            return {"model": info["path"], "step": info["step"], "num_parameters": info["num_parameters"],
                    "dtype": ",".join(info["dtype"])}
        from GRPO.merger import merge

        actor = self._actor(ctx)
        target = self._target(ctx)
        if target.exists():  # written atomically, so it is complete: an earlier attempt got this far
            return {"model": str(target), "actor": actor, "resumed": True}
        report = merge(actor, target, dtype=ctx.cfg.merge.dtype, max_shard_size=ctx.cfg.merge.max_shard_size)
        print(f"merged {report.num_parameters:,} parameters from {report.world_size} rank(s) of {shlex.quote(actor)} "
              f"into {target} ({report.dtype}, {report.seconds:.1f} s)")
        return {"model": str(target), "actor": actor, "num_parameters": report.num_parameters,
                "dtype": report.dtype, "world_size": report.world_size}


STAGE = MergeStage()
