"""Stage `sft_data`: the cold-start set -> ms-swift JSON lines + image files (SFT/sft_rows.py).

Writes `runs/<run>/sft_data/{train.jsonl, images/, train.summary.json}` (and `train.rejects.jsonl` when
`data.on_bad_row=skip` rejected rows). An interrupted run resumes after its last complete chunk.
"""

from __future__ import annotations

from omegaconf import DictConfig

from recipes.atomic import OutputExistsError
from recipes.data.errors import BadRowError
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import SftDataOutputs


def cold_start_source(ctx: StageContext) -> tuple[str, str, str]:
    """(reference, local path, split) of the cold-start rows: the distill stage's output when it is in the
    plan (or ran in this run), else `data.sft_source`."""
    distilled = ctx.outputs("distill")
    if "distill" in ctx.cfg.stages or "data" in distilled:
        path = distilled["data"]
        return path, path, "train"
    d = ctx.cfg.data
    return str(d.sft_source), ctx.resolve(str(d.sft_source)), str(d.sft_split)


class SFTDataStage(Stage[SftDataOutputs]):
    name = "sft_data"
    config_keys = ("data.sft_source", "data.sft_split", "data.system_prompt", "data.max_pixels",
                   "data.max_prompt_length", "data.on_bad_row", "data.max_rows", "model.path")
    depends_on = ("distill",)

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        data = [] if "distill" in cfg.stages else [HubRef(str(cfg.data.sft_source), "dataset")]
        return [*data, HubRef(str(cfg.model.path), "model")]

    def plan(self, ctx: StageContext) -> StagePlan:
        d = ctx.cfg.data
        ref, _, split = cold_start_source(ctx)
        return StagePlan(
            outputs={"train": str(ctx.stage_dir / "train.jsonl"), "images": str(ctx.stage_dir / "images")},
            notes=[f"convert {ref} [{split}] to ms-swift JSON lines with {d.num_workers} worker(s); "
                   f"rows over {d.max_prompt_length} prompt tokens or {d.max_pixels} pixels: on_bad_row={d.on_bad_row}"],
        )

    def run(self, ctx: StageContext) -> SftDataOutputs:
        from SFT.sft_rows import convert_sft, sft_settings

        ref, path, split = cold_start_source(ctx)
        settings = sft_settings(ctx.cfg.data, ctx.resolve(str(ctx.cfg.model.path)))
        try:
            s = convert_sft(ref, path, split, ctx.stage_dir, settings)
        except (BadRowError, OutputExistsError) as err:
            raise StageError(f"stage 'sft_data': {err}") from err
        out = SftDataOutputs(train=s["output"], images=s["images"], rows=s["rows"], rejected=s["rejected"])
        if s["rejects"]:
            out["rejects"] = s["rejects"]
        return out


STAGE = SFTDataStage()
