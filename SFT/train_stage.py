"""Stage `sft`: the paper's cold-start SFT as one `swift sft` run (ms-swift 4.6).

Reads the sft_data stage's JSONL and the base model; writes under `runs/<run>/sft/`: `system.txt`,
`log.txt` (the streamed ms-swift output, appended across attempts) and `output/` (ms-swift's own
`checkpoint-N/`, `logging.jsonl`, `args.json`, tensorboard `runs/`). A rerun resumes from the last
complete checkpoint with ms-swift's `--resume_from_checkpoint`: exactly (optimizer, scheduler and RNG state)
when the checkpoints hold them, and from weights-only checkpoints only when `sft.resume_weights_only` accepts
the restarted schedule. The checkpoint handed to GRPO
(`sft.checkpoint`: last, or best by eval loss) is recorded as the output `checkpoint`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recipes import ms_swift, ray_launch
from recipes.atomic import atomic_write_text
from recipes.checks import Problem, problem_from
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import SftOutputs
from SFT.checks import check_dataset, check_model_dir
from SFT.flags import MANAGED_BY_RECIPE, SFTConfigError, gradient_accumulation
from SFT.sft_command import SFTPaths, build_command, swift_args

log = logging.getLogger(__name__)


def _model_path(ctx: StageContext) -> str:
    """The resolved model dir; in a dry run, the local cache copy when there is one (read-only lookup), so
    the command printed for another node's rank is the one to run."""
    ref = str(ctx.cfg.model.path)
    resolved = ctx.resolve(ref)
    if resolved != ref or not ctx.dry_run or ref.startswith("tiny:"):
        return resolved
    from recipes import hub

    try:
        return str(hub.resolve(HubRef(ref, "model"), ctx.cfg.hub.cache_dir, offline=True))
    except Exception:  # not fetched yet: the plan shows the reference as given
        return ref


class SFTStage(Stage[SftOutputs]):
    name = "sft"
    depends_on = ("sft_data",)
    unhashed_keys = ("sft.resume_weights_only",)
    config_keys = ("model", "sft", "data.system_prompt", "data.max_pixels", "cluster.nnodes", "cluster.nproc_per_node",
                   "cluster.device")  # not where it runs (launcher, master address): a rerun elsewhere resumes

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        return [HubRef(str(cfg.model.path), "model")]

    def validate(self, cfg: DictConfig) -> list[Problem]:
        """extra_args against ms-swift's flags, and the whole `swift sft` argument list through ms-swift's own
        parser (placeholder paths; nothing is read). The batch geometry is the schema's (PipelineConfig)."""
        placeholder = SFTPaths(model="<model>", dataset="<sft_data>.jsonl", output_dir="<output>",
                               system_file="<system>.txt")
        try:
            args = swift_args(cfg, placeholder)
        except SFTConfigError as err:
            return [problem_from("sft.extra_args", dict(cfg.sft.extra_args or {}), str(err))]
        from swift.arguments import SftArguments

        extra = {str(k).lstrip("-") for k in (cfg.sft.extra_args or {})}
        out = []
        for flag, why in ms_swift.argument_errors(SftArguments, args).items():
            key = (f"sft.extra_args.{flag}" if flag in extra else MANAGED_BY_RECIPE.get(flag, f"sft.{flag}"))
            value = OmegaConf.select(cfg, key, default=None) if "." in key and " " not in key else None
            out.append(Problem(key, value, f"ms-swift's parser refuses --{flag}: {why}"))
        return out

    def _paths(self, ctx: StageContext) -> SFTPaths:
        out = ctx.stage_dir / "output"
        resume = ms_swift.last_checkpoint(out)  # read-only: a dry run shows the resume too
        return SFTPaths(
            model=_model_path(ctx),
            dataset=ctx.outputs("sft_data")["train"],
            output_dir=str(out.resolve()),
            system_file=str((ctx.stage_dir / "system.txt").resolve()),
            resume_from=str(resume) if resume else None,
            resume_weights_only=bool(resume) and not ms_swift.has_training_state(resume),
        )

    def plan(self, ctx: StageContext) -> StagePlan:
        cfg = ctx.cfg
        paths = self._paths(ctx)
        notes = [
            f"global batch {cfg.sft.global_batch_size} = {cfg.sft.per_device_train_batch_size} per device x "
            f"{cfg.cluster.nproc_per_node} processes per node x {cfg.cluster.nnodes} node(s) x "
            f"{gradient_accumulation(cfg.sft, cfg.cluster)} accumulation steps",
            f"system prompt written to {paths.system_file}: {cfg.data.system_prompt!r}",
        ]
        if cfg.sft.deepspeed and not ms_swift.on_gpu(cfg.cluster):
            notes.append(f"deepspeed {cfg.sft.deepspeed} dropped: cluster.device=cpu (DeepSpeed needs a GPU)")
        command = build_command(cfg, paths)
        if ray_launch.uses_ray(cfg.cluster):
            notes += ray_launch.layout_notes(cfg.cluster)
            command.env = ray_launch.torchrun_rank_env(command.env, "<k>", "<rank-0 node IP>", "<free port>",
                                                       str((ctx.stage_dir / "ranks").resolve()))
        elif ms_swift.uses_torchrun(cfg.cluster):
            notes.append(f"torchrun via NPROC_PER_NODE/NNODES: run the same command on each of the "
                         f"{cfg.cluster.nnodes} node(s) with its own cluster.node_rank")
        notes.append("on rerun: resumes from the last complete checkpoint-N in output/ (ms-swift resume; "
                     + ("weights-only checkpoints: a resume needs sft.resume_weights_only=true)"
                        if cfg.sft.save_only_model else "optimizer and scheduler state kept: exact)"))
        return StagePlan(
            commands=[command],
            outputs={"checkpoint": f"{paths.output_dir}/checkpoint-<N> ({cfg.sft.checkpoint})",
                     "output_dir": paths.output_dir, "log": str(ctx.stage_dir / "log.txt")},
            notes=notes,
        )

    def run(self, ctx: StageContext) -> SftOutputs:
        cfg = ctx.cfg
        paths = self._paths(ctx)
        if paths.resume_weights_only and not cfg.sft.resume_weights_only:
            raise StageError(
                f"sft: {paths.resume_from} holds weights only (sft.save_only_model=true): resuming from it would "
                "restart the optimizer and the learning-rate schedule, unlike an uninterrupted run. Accept that "
                "with sft.resume_weights_only=true, or start SFT over with rerun=[sft]; sft.save_only_model=false "
                "makes later resumes exact")
        check_model_dir(paths.model)
        rows = check_dataset(paths.dataset)
        cmd = build_command(cfg, paths)  # validates extra_args and the batch geometry before anything runs
        atomic_write_text(paths.system_file, str(cfg.data.system_prompt))
        if paths.resume_from:
            log.info("sft: resuming from %s%s", paths.resume_from,
                     " (weights only: fresh optimizer and schedule)" if paths.resume_weights_only else "")
        log.info("sft: %d training rows; output %s", rows, paths.output_dir)
        if ray_launch.uses_ray(cfg.cluster):  # every node's share from a Ray placement group
            ray_launch.run_stage_command(cmd, cfg.cluster, ctx.stage_dir, self.name, "log.txt")
        else:
            ctx.run_command(cmd, "log.txt")
        return self.outputs(cfg, Path(paths.output_dir), rows, ctx.stage_dir / "log.txt")

    @staticmethod
    def outputs(cfg: DictConfig, output_dir: Path, rows: int, log_path: Path) -> SftOutputs:
        """The manifest entry: the chosen checkpoint for GRPO, plus the last and the best."""
        last = ms_swift.last_checkpoint(output_dir)
        if last is None:
            raise StageError(f"swift sft exited cleanly but wrote no complete checkpoint in {output_dir}")
        best = ms_swift.best_checkpoint(output_dir)
        if cfg.sft.checkpoint == "best" and best is None:
            raise StageError(
                f"sft.checkpoint=best but no eval loss was recorded in {last}/trainer_state.json "
                "(sft.split_dataset_ratio is 0?); use sft.checkpoint=last or enable evaluation"
            )
        chosen = best if cfg.sft.checkpoint == "best" else last
        return SftOutputs(
            checkpoint=str(chosen), last_checkpoint=str(last), best_checkpoint=str(best or ""),
            global_step=ms_swift.global_step(last), train_rows=rows, output_dir=str(output_dir),
            log=str(log_path),
        )


STAGE = SFTStage()
