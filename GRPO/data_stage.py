"""Stage `rl_data`: the RL set and the validation set -> verl parquet (GRPO/rl_rows.py).

Writes `runs/<run>/rl_data/{train,val}.parquet` with `{train,val}.summary.json` (and
`*.rejects.jsonl` when `data.on_bad_row=skip` rejected rows). An interrupted run resumes after its last
complete chunk.
"""

from __future__ import annotations

from omegaconf import DictConfig

from recipes.atomic import OutputExistsError
from recipes.data.errors import BadRowError
from recipes.data.rows import RowSettings
from recipes.families import family_or_none
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import RlDataOutputs


def rl_system_prompt(cfg: DictConfig) -> str | None:
    """The system message written into RL and validation prompts: none (the reference) unless
    `data.rl_system_prompt=true`, then SFT's `data.system_prompt`."""
    return str(cfg.data.system_prompt) if cfg.data.get("rl_system_prompt", False) else None


def rl_prompt_shape(cfg: DictConfig) -> str:
    """One line for the plan saying how prompts are built."""
    system = rl_system_prompt(cfg)
    if system is None:
        fam = family_or_none(str(cfg.model.path))
        default = (f"{fam.label}'s template adds none" if fam and fam.default_system is None
                   else "Qwen's template adds its default")
        return (f"the raw problem as one user turn, no system message of its own (the reference; {default}); "
                "data.rl_system_prompt=true adds SFT's system prompt")
    return f"system message {system!r} + the problem as the user turn (data.rl_system_prompt=true)"


class RLDataStage(Stage[RlDataOutputs]):
    name = "rl_data"
    config_keys = ("data.rl_source", "data.rl_split", "data.val_source", "data.val_split", "data.system_prompt", "data.rl_system_prompt",
                   "data.max_pixels", "data.min_pixels", "data.max_prompt_length", "data.on_bad_row",
                   "data.max_rows", "model.path")

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        return [HubRef(str(cfg.data.rl_source), "dataset"), HubRef(str(cfg.data.val_source), "dataset"),
                HubRef(str(cfg.model.path), "model")]

    def plan(self, ctx: StageContext) -> StagePlan:
        d = ctx.cfg.data
        return StagePlan(
            outputs={"train": str(ctx.stage_dir / "train.parquet"), "val": str(ctx.stage_dir / "val.parquet")},
            notes=[f"convert {d.rl_source} [{d.rl_split}] and {d.val_source} [{d.val_split}] to verl parquet "
                   f"with {d.num_workers} worker(s); images carry max_pixels={d.max_pixels} "
                   f"min_pixels={d.min_pixels}; on_bad_row={d.on_bad_row}",
                   f"prompts: {rl_prompt_shape(ctx.cfg)}"],
        )

    def run(self, ctx: StageContext) -> RlDataOutputs:
        from GRPO.rl_rows import convert_rl

        d = ctx.cfg.data
        settings = RowSettings.from_data(d, ctx.resolve(str(ctx.cfg.model.path)),
                                         system_prompt=rl_system_prompt(ctx.cfg))
        try:
            train = convert_rl(str(d.rl_source), ctx.resolve(str(d.rl_source)), str(d.rl_split), ctx.stage_dir,
                               "train", settings)
            val = convert_rl(str(d.val_source), ctx.resolve(str(d.val_source)), str(d.val_split), ctx.stage_dir,
                             "val", settings)
        except (BadRowError, OutputExistsError) as err:
            raise StageError(f"stage 'rl_data': {err}") from err
        out = RlDataOutputs(train=train["output"], val=val["output"], rows_train=train["rows"],
                            rows_val=val["rows"], rejected=train["rejected"] + val["rejected"])
        rejects = [s["rejects"] for s in (train, val) if s["rejects"]]
        if rejects:
            out["rejects"] = rejects
        return out


STAGE = RLDataStage()
