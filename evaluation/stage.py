"""The pipeline's `eval` stage: evaluate the newest model of the run on the four benchmarks."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig

from recipes.stage import Source, Stage, StageContext, StageError, StagePlan

log = logging.getLogger(__name__)

MODEL_PRODUCERS: tuple[tuple[str, str], ...] = (("merge", "model"), ("grpo", "checkpoint"), ("sft", "checkpoint"))
"""(stage, output key) tried in order for the model to evaluate: merged > GRPO (ms-swift backend, an HF
dir) > SFT > base. verl's GRPO output (FSDP shards) is not a model until `merge` ran."""


def choose_model(ctx: StageContext) -> tuple[str, str]:
    """(model reference, where it came from): `eval.model`, else the newest stage output, else the base model."""
    cfg = ctx.cfg
    if cfg.eval.model:
        return str(cfg.eval.model), "eval.model"
    for stage, key in MODEL_PRODUCERS:
        if ctx.has_output(stage, key):
            return ctx.output_of(stage, key), f"{stage}.{key}"
        if stage == "merge" and ctx.has_output("grpo", "actor"):
            raise StageError(
                f"GRPO left FSDP shards ({ctx.output_of('grpo', 'actor')}) but no merged model: add merge to "
                "stages= (or set eval.model) rather than evaluate an older checkpoint by mistake"
            )
    if ctx.dry_run:
        for stage in ("merge", "grpo", "sft"):
            if stage in cfg.stages:
                return f"<{stage}.model>", f"{stage} (not run yet)"
    return str(cfg.model.path), "model.path (base model)"


def resolver(ctx: StageContext):
    """Resolve through the runner's prepared sources; a reference it did not prepare (a stage output path,
    or the base model when an earlier stage's output key is unknown) goes through recipes.hub."""

    def resolve(ref: str, kind: str) -> str:
        local = ctx.resolve(ref)
        if local != ref:
            return local
        from recipes import hub

        return str(hub.resolve(Source(ref, kind), ctx.cfg.hub.cache_dir, ctx.cfg.hub.offline))

    return resolve


class EvalStage(Stage):
    name = "eval"
    config_keys = ("eval", "model.path")
    depends_on = ("merge", "grpo", "sft")

    def sources(self, cfg: DictConfig) -> list[Source]:
        out = []
        if cfg.eval.model:
            out.append(Source(str(cfg.eval.model), "model"))
        elif not any(s in cfg.stages for s in self.depends_on):
            out.append(Source(str(cfg.model.path), "model"))
        for name in cfg.eval.benchmarks:
            if name in cfg.eval.sources:
                out.append(Source(str(cfg.eval.sources[name].source), "dataset"))
        return out

    def plan(self, ctx: StageContext) -> StagePlan:
        model, origin = choose_model(ctx)
        e = ctx.cfg.eval
        benches = ", ".join(f"{b} ({e.sources[b].source} [{e.sources[b].split}])" if b in e.sources else b
                            for b in e.benchmarks)
        notes = [
            f"evaluate {model} (from {origin}) with backend={e.backend}, temperature={e.temperature}, "
            f"max_new_tokens={e.max_new_tokens}, limit={e.limit}",
            f"benchmarks: {benches}",
            "score with reward_fns.grader" + (f"; LLM judge {e.judge.model} at {e.judge.url}" if e.judge.enabled else ""),
        ]
        d = ctx.stage_dir
        outputs = {"predictions": str(d / "predictions.jsonl"), "results": str(d / "results.json"),
                   "report": str(d / "results.md"), "plot": str(d / "plot.png")}
        return StagePlan(outputs=outputs, notes=notes)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from evaluation.run import evaluate

        model, origin = choose_model(ctx)
        log.info("eval: model %s (from %s)", model, origin)
        res = evaluate(ctx.cfg.eval, model, ctx.stage_dir, resolve=resolver(ctx))
        out: dict[str, Any] = {**res["paths"], "model": model, "average": res["average"]}
        for name, entry in res["benchmarks"].items():
            out[f"{name}_accuracy"] = entry["accuracy"]
        gen = res.get("generation", {})
        if gen.get("items_per_s") is not None:
            out["items_per_s"] = gen["items_per_s"]
        return out


STAGE = EvalStage()
