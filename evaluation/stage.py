"""The pipeline's `eval` stage: evaluate the newest model of the run on the four benchmarks."""

from __future__ import annotations

import logging
from typing import Any, cast

from omegaconf import DictConfig

from recipes.ablation import starts_from
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import HF_MODEL, EvalOutputs

log = logging.getLogger(__name__)


def choose_model(ctx: StageContext) -> tuple[str, str]:
    """(model reference, where it came from): `eval.model`, else the newest stage output, else the base model."""
    cfg = ctx.cfg
    if cfg.eval.model:
        return str(cfg.eval.model), "eval.model"
    producers = starts_from(cfg, "eval")  # merged > GRPO > SFT > base, per the ablation
    for stage, key in producers:  # (stage, key) from a table: the untyped read
        if ctx.has_output(stage, key):
            fmt = ctx.outputs("grpo").get("format", HF_MODEL) if stage == "grpo" else HF_MODEL  # only grpo's vary
            if fmt != HF_MODEL:
                raise StageError(
                    f"{stage} left a {fmt} checkpoint ({ctx.output_of(stage, key)}), not a Hugging Face model: add "
                    "merge to stages= (or set eval.model) rather than evaluate an older checkpoint by mistake"
                )
            return ctx.output_of(stage, key), f"{stage}.{key}"
    if ctx.dry_run:
        for stage, _ in producers:
            if stage in cfg.stages:
                return f"<{stage}.model>", f"{stage} (not run yet)"
    return str(cfg.model.path), "model.path (base model)"


def ray_address(cfg: DictConfig) -> str | None:
    """The Ray cluster to generate on (`cluster.address` with a ray launcher), else None: this node."""
    address = cfg.cluster.get("address")
    return str(address) if address and str(cfg.cluster.get("launcher", "auto")) in ("ray", "auto") else None


def resolver(ctx: StageContext):
    """Resolve through the runner's prepared sources; a reference it did not prepare (a stage output path,
    or the base model when an earlier stage's output key is unknown) goes through recipes.hub."""

    def resolve(ref: str, kind: str) -> str:
        local = ctx.resolve(ref)
        if local != ref:
            return local
        from recipes import hub

        return str(hub.resolve(HubRef(ref, kind), ctx.cfg.hub.cache_dir, ctx.cfg.hub.offline))

    return resolve


class EvalStage(Stage[EvalOutputs]):
    name = "eval"
    config_keys = ("eval", "model.path")
    depends_on = ("merge", "grpo", "sft")

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        out = []
        if cfg.eval.model:
            out.append(HubRef(str(cfg.eval.model), "model"))
        elif not any(s in cfg.stages for s in self.depends_on):
            out.append(HubRef(str(cfg.model.path), "model"))
        if cfg.eval.judge.enabled and not cfg.eval.judge.url and not cfg.eval.judge.launch:
            out.append(HubRef(str(cfg.eval.judge.model), "model"))  # fetched before any stage starts
        for name in cfg.eval.benchmarks:
            if name in cfg.eval.sources:
                out.append(HubRef(str(cfg.eval.sources[name].source), "dataset"))
        return out

    def plan(self, ctx: StageContext) -> StagePlan:
        from evaluation.generate import engine_count
        from evaluation.judge import local_url, server_command

        model, origin = choose_model(ctx)
        cfg = ctx.cfg
        e = cfg.eval
        benches = ", ".join(f"{b} ({e.sources[b].source} [{e.sources[b].split}])" if b in e.sources else b
                            for b in e.benchmarks)
        on_ray = ray_address(cfg) is not None
        gpus = int(cfg.cluster.nproc_per_node) * (int(cfg.cluster.nnodes) if on_ray else 1)
        gpus = gpus if str(cfg.cluster.device) == "cuda" else 0
        tp = int(e.tensor_parallel_size)
        engines = engine_count(e.engines, tp, gpus)
        where = (f"Ray Data actors on the cluster at {cfg.cluster.address} (at run time: its GPUs / tp)" if on_ray
                 else "one process each (at run time: the visible GPUs / tp)")
        decoding = "greedy" if not e.temperature else f"temperature={e.temperature}, top_p={e.top_p}"
        notes = [
            f"evaluate {model} (from {origin}) with backend={e.backend}, limit={e.limit}",
            f"preset {e.preset}: system={e.system_prompt!r}, user suffix={e.user_suffix!r}, {decoding}, "
            f"seed={e.seed}, max_new_tokens={e.max_new_tokens}, max_model_len={e.max_model_len}, "
            f"pixels {e.min_pixels}..{e.max_pixels}",
            f"generation: {engines} engine(s) x tensor_parallel_size={tp} over {gpus or 'no'} GPU(s) "
            f"(cluster), {where}, resumable per item",
            f"benchmarks: {benches}",
        ]
        if e.judge.enabled and e.judge.url:
            notes.append(f"score with reward_fns.grader; LLM judge {e.judge.model} at {e.judge.url}")
        elif e.judge.enabled:
            notes.append(f"score with reward_fns.grader; LLM judge {e.judge.model}: local server after generation, "
                         f"stopped after judging: {' '.join(server_command(e.judge))} (health: {local_url(e.judge)}/models)")
        else:
            notes.append("score with reward_fns.grader (LLM judge off)")
        from evaluation.run import output_files

        files = output_files(ctx.stage_dir)
        outputs = {k: files[k] for k in ("predictions", "results", "report", "plot")}
        return StagePlan(outputs=outputs, notes=notes)

    def run(self, ctx: StageContext) -> EvalOutputs:
        from evaluation.run import evaluate, output_files

        model, origin = choose_model(ctx)
        log.info("eval: model %s (from %s)", model, origin)
        res = evaluate(ctx.cfg.eval, model, ctx.stage_dir, resolve=resolver(ctx), ray_address=ray_address(ctx.cfg))
        out: dict[str, Any] = {**output_files(ctx.stage_dir), "model": model, "average": res["average"]}
        for name, entry in res["benchmarks"].items():
            out[f"{name}_accuracy"] = entry["accuracy"]  # beside EvalOutputs' keys: named by the data
        gen = res.get("generation", {})
        if gen.get("items_per_s") is not None:
            out["items_per_s"] = gen["items_per_s"]
        return cast(EvalOutputs, out)


STAGE = EvalStage()
