"""The `grpo` stage with `grpo.backend=verl` (the paper's): verl's `main_ppo` on Ray, then GRPO.merger.

GRPO/train_stage.py and GRPO/merge_stage.py dispatch here. The overrides come from GRPO/verl_command.py over GRPO/verl_overrides.py,
are checked on the CPU with verl's own config code (GRPO/verl_check.py) before the command starts, and the
command joins `cluster.address` (RAY_ADDRESS) or lets verl's `ray.init()` start a local head. A submitted
Ray job sets RAY_ADDRESS itself. verl saves FSDP shards under `<out>/global_step_N/actor`; the grpo outputs
are `checkpoint` (the newest actor dir), `format` (`verl_fsdp`: not a model until merged) and `step`.
The step count is derived from the converted data: floor(rows / rollout_batch_size) x total_epochs (verl
drops the last partial batch, as EasyR1 does), capped by `grpo.max_steps`. The merge stage merges the
recorded step (or `merge.step=N`) into one Hugging Face model with GRPO.merger.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shlex
import sys
import warnings
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from GRPO.verl_command import verl_overrides
from GRPO.verl_overrides import VERL_OVERRIDES, GRPOConfigError
from recipes import tracking
from recipes.checks import Problem, problem_from
from recipes.stage import Command, StageContext, StageError, StagePlan
from recipes.stage_outputs import GrpoOutputs, MergeOutputs

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FORMAT = "verl_fsdp"
"""The grpo `format` output: verl FSDP shards (`model_world_size_W_rank_R.pt` + `huggingface/`)."""
PAPER_RL_ROWS = 31818
"""Rows of WaltonFuture/Multimodal-RL-Data (shared/reference/paper.md)."""


def training_steps(cfg: DictConfig, rows: int) -> int:
    """verl's step count for `rows` RL rows: whole batches per epoch x epochs, capped by grpo.max_steps."""
    steps = rows // int(cfg.grpo.rollout_batch_size) * int(cfg.grpo.total_epochs)
    return min(steps, int(cfg.grpo.max_steps)) if cfg.grpo.max_steps is not None else steps


def steps_note(ctx: StageContext) -> str:
    """What the plan says about the step count: from the converted data when it exists."""
    g = ctx.cfg.grpo
    cap = f", capped by grpo.max_steps={g.max_steps}" if g.max_steps is not None else ""
    data = ctx.outputs("rl_data")
    if "rows_train" in data:
        rows = int(data["rows_train"])
        return (f"{training_steps(ctx.cfg, rows)} steps: {rows:,} converted rows // {g.rollout_batch_size} prompts "
                f"= {rows // int(g.rollout_batch_size)} per epoch x {g.total_epochs} epoch(s){cap}")
    paper = PAPER_RL_ROWS // int(g.rollout_batch_size) * int(g.total_epochs)
    return (f"steps: derived from the converted data once rl_data has run (floor(rows / {g.rollout_batch_size}) x "
            f"{g.total_epochs}; the paper's {PAPER_RL_ROWS:,} rows give {paper}){cap}")


def _attention_note(cfg: DictConfig) -> str:
    impl = str(cfg.grpo.attn_implementation)
    return (f"actor/ref attention: {impl}, padding_free={bool(cfg.grpo.padding_free)}"
            + (" (resolved by the preflight)" if impl != "auto" else " (auto: resolved when the run starts)"))


def _step_of(actor: str | Path) -> int:
    """N of `<out>/global_step_N/actor`."""
    return int(Path(actor).parent.name.rsplit("_", 1)[1])


def command(ctx: StageContext, model: str, out: Path) -> Command:
    """`python -m verl.trainer.main_ppo <overrides>` training `model` into `out`, run from the stage dir."""
    data = ctx.outputs("rl_data")
    overrides = verl_overrides(ctx.cfg, model_path=model, train_files=data["train"], val_files=data["val"],
                               checkpoint_dir=str(out))
    env = {"HYDRA_FULL_ERROR": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    if "wandb" in tracking.stage_loggers(ctx.cfg, "grpo") and os.environ.get("WANDB_MODE"):
        env["WANDB_MODE"] = os.environ["WANDB_MODE"]  # offline when no key (recipes/pipeline/preflight.py)
    env.update(tracking.stage_env(ctx.cfg, "grpo"))  # project, group, dirs under runs/<run>/ (recipes/tracking.py)
    if ctx.cfg.cluster.address:
        env["RAY_ADDRESS"] = str(ctx.cfg.cluster.address)
    argv = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides]
    return Command(argv=argv, env=env, cwd=str(ctx.stage_dir.resolve()))


# -- stage entry points ---------------------------------------------------------------------------------
def validate(cfg: DictConfig) -> list[Problem]:
    """Our overrides through verl's own config code (Hydra composition of its ppo_trainer plus
    `validate_config`, on this CPU), with placeholder paths for the data."""
    from GRPO.verl_check import VerlConfigError, check_overrides

    try:
        overrides = verl_overrides(cfg, model_path=str(cfg.model.path), train_files="<rl_data>/train.parquet",
                                   val_files="<rl_data>/val.parquet", checkpoint_dir="<grpo>/checkpoints")
    except GRPOConfigError as err:
        key = str(err).split("=", 1)[0] if str(err).startswith("grpo.") else "grpo"
        return [problem_from(key, OmegaConf.select(cfg, key, default=None), str(err))]
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # verl's "checks passed" chatter
            warnings.simplefilter("ignore", UserWarning)
            check_overrides(overrides)
    except VerlConfigError as err:
        text = " ".join(str(err).split())
        rows = [row for row in VERL_OVERRIDES if not row.key.startswith("(") and row.target]
        ours = ([r.key for r in rows if r.target.lstrip("+") in text]  # verl's full key, else its last part
                or [r.key for r in rows if r.target.rsplit(".", 1)[-1] in text])
        key = ours[0] if ours else "grpo.backend"
        return [Problem(key, OmegaConf.select(cfg, key, default=None), f"verl's own check refuses it: {text}")]
    return []


def plan(ctx: StageContext, model: str, out: Path) -> StagePlan:
    """The exact `main_ppo` command, where Ray comes from, the step count and the attention setting."""
    where = (f"joins the Ray cluster at {ctx.cfg.cluster.address}" if ctx.cfg.cluster.address
             else "verl starts a local Ray head (or joins RAY_ADDRESS, as inside a Ray job)")
    return StagePlan(
        commands=[command(ctx, model, out)],
        outputs={"checkpoint": str(out / "global_step_<N>" / "actor"), "format": FORMAT},
        notes=[where, steps_note(ctx), _attention_note(ctx.cfg),
               "overrides are checked with verl's own config code before the command starts"],
    )


def run(ctx: StageContext, model: str, out: Path) -> GrpoOutputs:
    """Check the overrides, train (verl resumes from `out` itself), record the newest actor checkpoint."""
    if ctx.cfg.cluster.device != "cuda":
        raise StageError(
            f"grpo.backend=verl needs CUDA GPUs (cluster.device={ctx.cfg.cluster.device!r}): verl 0.9.1 cannot "
            "take a GRPO step on a CPU. Use grpo.backend=swift (the tiny recipe does) or a GPU node "
            "(recipes/tiny_gpu.sh, recipes/qwen2_5_vl_7b.sh)")
    from GRPO.merger import CheckpointLayoutError, find_latest_actor_dir
    from GRPO.verl_check import check_overrides

    cmd = command(ctx, model, out)
    check_overrides(cmd.argv[3:])  # a wrong key fails here, before Ray asks for GPUs
    out.mkdir(parents=True, exist_ok=True)  # verl resumes from it (trainer.resume_mode=auto)
    ctx.run_command(cmd)
    try:
        actor = find_latest_actor_dir(out)
    except CheckpointLayoutError as err:
        raise StageError(f"verl finished but saved no usable checkpoint ({err}); "
                         f"check trainer.save_freq and the log in {ctx.stage_dir / 'log.txt'}") from None
    result = GrpoOutputs(checkpoint=str(actor), format=FORMAT, step=_step_of(actor))
    data = ctx.outputs("rl_data")
    if "rows_train" in data:
        result["steps_planned"] = training_steps(ctx.cfg, int(data["rows_train"]))
        if result["step"] != result["steps_planned"]:
            log.warning("grpo: the newest checkpoint is step %d, the plan had %d steps",
                        result["step"], result["steps_planned"])
    return result


# -- merge stage entry points: FSDP shards -> one Hugging Face model ---------------------------------------
def _step(ctx: StageContext) -> int | None:
    """`merge.step` when given, else the grpo stage's recorded step (None: not recorded yet)."""
    if ctx.cfg.merge.step is not None:
        return int(ctx.cfg.merge.step)
    grpo = ctx.outputs("grpo")
    if "step" in grpo:
        return int(grpo["step"])
    return None


def actor_dir(ctx: StageContext, planning: bool = False) -> str:
    """The `global_step_N/actor` dir to merge: grpo's checkpoint, or its sibling at `merge.step`."""
    step, grpo = _step(ctx), ctx.outputs("grpo")
    if planning and "checkpoint" not in grpo:
        return grpo["checkpoint"] if step is None else f"<grpo checkpoints>/global_step_{step}/actor"
    from GRPO.merger import find_latest_actor_dir

    root = Path(grpo["checkpoint"]).parent.parent  # <out>/global_step_N/actor
    return str(find_latest_actor_dir(root, step=step))


def plan_hf_model(ctx: StageContext, target: Path) -> StagePlan:
    """The standalone merger command for the actor the merge stage will merge into `target`."""
    argv = [sys.executable, "-m", "GRPO.merger", "merge", "--local-dir", actor_dir(ctx, planning=True),
            "--target-dir", str(target), "--max-shard-size", str(ctx.cfg.merge.max_shard_size)]
    if ctx.cfg.merge.dtype:
        argv += ["--dtype", str(ctx.cfg.merge.dtype)]
    return StagePlan(commands=[Command(argv)], outputs={"model": str(target)},
                     notes=["runs in-process; the command is its standalone equivalent",
                            "merges grpo's last saved step; merge.step=N picks another"])


def make_hf_model(ctx: StageContext, target: Path) -> MergeOutputs:
    """Merge the actor's FSDP shards into a Hugging Face model at `target` (kept when already written)."""
    from GRPO.merger import merge

    actor = actor_dir(ctx)
    if target.exists():  # written atomically, so it is complete: an earlier attempt got this far
        return MergeOutputs(model=str(target), checkpoint=actor, resumed=True)
    report = merge(actor, target, dtype=ctx.cfg.merge.dtype, max_shard_size=ctx.cfg.merge.max_shard_size)
    print(f"merged {report.num_parameters:,} parameters from {report.world_size} rank(s) of {shlex.quote(actor)} "
          f"into {target} ({report.dtype}, {report.seconds:.1f} s)")
    return MergeOutputs(model=str(target), checkpoint=actor, step=_step_of(actor),
                        num_parameters=report.num_parameters, dtype=report.dtype, world_size=report.world_size)
