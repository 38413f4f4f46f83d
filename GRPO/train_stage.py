"""Stage 4, `grpo`: verl's `main_ppo` on Ray (or ms-swift GRPO when `grpo.backend=swift`).

verl: the overrides come from GRPO/verl_overrides.py, are checked on the CPU with verl's own config code
(GRPO/verl_check.py) before the command starts, and the command joins `cluster.address` (RAY_ADDRESS)
or lets verl's `ray.init()` start a local head. A submitted Ray job sets RAY_ADDRESS itself.
Outputs: `checkpoint_dir` (runs/<run>/grpo/checkpoints), `actor` (the final global_step_N/actor) and
`final_step`. The step count is derived from the converted data: floor(rows / rollout_batch_size) x
total_epochs (verl drops the last partial batch, as EasyR1 does), capped by `grpo.max_steps`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from GRPO import swift_backend
from GRPO.merger import CheckpointLayoutError, find_latest_actor_dir
from GRPO.verl_overrides import verl_overrides
from recipes.ablation import starts_from
from recipes.stage import Command, Source, Stage, StageContext, StageError, StagePlan

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAPER_RL_ROWS = 31818
"""Rows of WaltonFuture/Multimodal-RL-Data (shared/reference/paper.md)."""


def training_steps(cfg: DictConfig, rows: int) -> int:
    """verl's step count for `rows` RL rows: whole batches per epoch x epochs, capped by grpo.max_steps."""
    steps = rows // int(cfg.grpo.rollout_batch_size) * int(cfg.grpo.total_epochs)
    return min(steps, int(cfg.grpo.max_steps)) if cfg.grpo.max_steps is not None else steps


def steps_note(ctx: StageContext) -> str:
    """What the plan says about the step count: from the converted data when it exists."""
    g = ctx.cfg.grpo
    if ctx.has_output("rl_data", "rows_train"):
        rows = int(ctx.output_of("rl_data", "rows_train"))
        return (f"{training_steps(ctx.cfg, rows)} steps: {rows:,} converted rows // {g.rollout_batch_size} prompts "
                f"= {rows // int(g.rollout_batch_size)} per epoch x {g.total_epochs} epoch(s)"
                + (f", capped by grpo.max_steps={g.max_steps}" if g.max_steps is not None else ""))
    paper = PAPER_RL_ROWS // int(g.rollout_batch_size) * int(g.total_epochs)
    return (f"steps: derived from the converted data once rl_data has run (floor(rows / {g.rollout_batch_size}) x "
            f"{g.total_epochs}; the paper's {PAPER_RL_ROWS:,} rows give {paper})"
            + (f", capped by grpo.max_steps={g.max_steps}" if g.max_steps is not None else ""))


class GRPOStage(Stage):
    name = "grpo"
    depends_on = ("rl_data", "sft")
    config_keys = ("grpo", "data.max_prompt_length", "data.system_prompt", "cluster.nnodes",
                   "cluster.nproc_per_node", "cluster.device", "model.path")

    def sources(self, cfg: DictConfig) -> list[Source]:
        if "sft" in cfg.stages:
            return []
        return [Source(cfg.model.path, "model")]  # no SFT in this run: it may start from the base model

    # -- verl -------------------------------------------------------------------------------------
    def _actor_model(self, ctx: StageContext) -> str:
        """The SFT checkpoint (when this run's ablation has SFT and the run made or makes one), else the base."""
        for stage, key in starts_from(ctx.cfg, "grpo"):
            if stage in ctx.cfg.stages or ctx.has_output(stage, key):
                return ctx.output_of(stage, key)
        return ctx.resolve(ctx.cfg.model.path)

    def checkpoint_dir(self, ctx: StageContext) -> Path:
        return (ctx.stage_dir / "checkpoints").resolve()

    def overrides(self, ctx: StageContext) -> list[str]:
        """The full `main_ppo` override list for this run."""
        return verl_overrides(
            ctx.cfg,
            model_path=self._actor_model(ctx),
            train_files=ctx.output_of("rl_data", "train"),
            val_files=ctx.output_of("rl_data", "val"),
            checkpoint_dir=str(self.checkpoint_dir(ctx)),
        )

    def command(self, ctx: StageContext) -> Command:
        env = {"HYDRA_FULL_ERROR": "1", "PYTHONPATH": str(PROJECT_ROOT)}
        if "wandb" in ctx.cfg.grpo.loggers and os.environ.get("WANDB_MODE"):
            env["WANDB_MODE"] = os.environ["WANDB_MODE"]  # offline when no key (recipes/preflight.py)
        if ctx.cfg.cluster.address:
            env["RAY_ADDRESS"] = str(ctx.cfg.cluster.address)
        argv = [sys.executable, "-m", "verl.trainer.main_ppo", *self.overrides(ctx)]
        return Command(argv=argv, env=env, cwd=str(ctx.stage_dir.resolve()))

    def plan(self, ctx: StageContext) -> StagePlan:
        if ctx.cfg.grpo.backend == "swift":
            return swift_backend.plan(ctx, self._actor_model(ctx), self.checkpoint_dir(ctx))
        self._check_backend(ctx.cfg)
        ckpt = self.checkpoint_dir(ctx)
        where = (f"joins the Ray cluster at {ctx.cfg.cluster.address}" if ctx.cfg.cluster.address
                 else "verl starts a local Ray head (or joins RAY_ADDRESS, as inside a Ray job)")
        return StagePlan(
            commands=[self.command(ctx)],
            outputs={"checkpoint_dir": str(ckpt), "actor": str(ckpt / "global_step_<N>" / "actor")},
            notes=[where, steps_note(ctx), self._attention_note(ctx.cfg),
                   "overrides are checked with verl's own config code before the command starts"],
        )

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if ctx.cfg.grpo.backend == "swift":
            return swift_backend.run(ctx, self._actor_model(ctx), self.checkpoint_dir(ctx))
        self._check_backend(ctx.cfg)
        if ctx.cfg.cluster.device != "cuda":
            raise StageError(
                f"grpo.backend=verl needs CUDA GPUs (cluster.device={ctx.cfg.cluster.device!r}): verl 0.9.1 cannot "
                "take a GRPO step on a CPU. Use grpo.backend=swift (the tiny recipe does) or a GPU node "
                "(recipes/tiny_gpu.sh, recipes/qwen2_5_vl_7b.sh)")
        from GRPO.verl_check import check_overrides

        cmd = self.command(ctx)
        check_overrides(cmd.argv[3:])  # a wrong key fails here, before Ray asks for GPUs
        ckpt = self.checkpoint_dir(ctx)
        ckpt.mkdir(parents=True, exist_ok=True)  # verl resumes from it (trainer.resume_mode=auto)
        ctx.run_command(cmd)
        try:
            actor = find_latest_actor_dir(ckpt)
        except CheckpointLayoutError as err:
            raise StageError(f"verl finished but saved no usable checkpoint ({err}); "
                             f"check trainer.save_freq and the log in {ctx.stage_dir / 'log.txt'}") from None
        out: dict[str, Any] = {"checkpoint_dir": str(ckpt), "actor": str(actor),
                               "final_step": int(actor.parent.name.rsplit("_", 1)[1])}
        if ctx.has_output("rl_data", "rows_train"):
            out["steps_planned"] = training_steps(ctx.cfg, int(ctx.output_of("rl_data", "rows_train")))
            if out["final_step"] != out["steps_planned"]:
                log.warning("grpo: the newest checkpoint is step %d, the plan had %d steps",
                            out["final_step"], out["steps_planned"])
        return out

    @staticmethod
    def _attention_note(cfg: DictConfig) -> str:
        impl = str(cfg.grpo.attn_implementation)
        return (f"actor/ref attention: {impl}, padding_free={bool(cfg.grpo.padding_free)}"
                + (" (resolved by the preflight)" if impl != "auto" else " (auto: resolved when the run starts)"))

    @staticmethod
    def _check_backend(cfg: DictConfig) -> None:
        if cfg.grpo.backend != "verl":
            raise StageError(f"grpo.backend={cfg.grpo.backend!r}: expected 'verl' or 'swift'")


STAGE = GRPOStage()
