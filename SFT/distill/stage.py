"""Stage `distill`: rejection-sample a cold-start set from a teacher (SFT/distill/run.py).

Off in the paper recipes (they train on the released set); on with `stages=[distill,sft_data,...]`, and
then `sft_data` converts this stage's `train.parquet` instead of `data.sft_source`.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from evaluation.generate import engine_count
from recipes.atomic import OutputExistsError
from recipes.data.errors import BadRowError
from recipes.hub import HubRef
from recipes.stage import Stage, StageContext, StageError, StagePlan
from recipes.stage_outputs import DistillOutputs
from SFT.distill.run import OUTPUT, SourceRef, distill, parse_source
from SFT.distill.templates import get_template

PLAN_MEAN_RESPONSE_TOKENS = 512
"""Assumed mean response length for the dry-run estimate (ours: the paper does not publish it)."""


def system_prompt(cfg: DictConfig) -> str:
    return str(cfg.distill.system_prompt if cfg.distill.system_prompt is not None else cfg.data.system_prompt)


def gpu_plan(cfg: DictConfig) -> dict[str, Any]:
    """Engines, tensor parallel size and the expected rate on paper (from plan_tokens_per_s_per_gpu)."""
    c = cfg.distill
    tp = int(c.tensor_parallel_size)
    gpus = int(cfg.cluster.nproc_per_node) * int(cfg.cluster.nnodes)
    engines = engine_count(int(c.engines) if c.engines else None, tp, gpus)
    tokens_s = engines * tp * float(c.plan_tokens_per_s_per_gpu)
    mean = min(PLAN_MEAN_RESPONSE_TOKENS, int(c.max_new_tokens))
    responses_s = tokens_s / mean
    return {"engines": engines, "tensor_parallel_size": tp, "gpus": engines * tp, "tokens_per_s": tokens_s,
            "responses_per_s": responses_s, "problems_per_s": responses_s / int(c.k),
            "hours_per_10k_problems": 1e4 / (responses_s / int(c.k)) / 3600}


class DistillStage(Stage[DistillOutputs]):
    name = "distill"
    config_keys = ("distill", "data.system_prompt", "data.max_pixels", "data.min_pixels", "data.on_bad_row")

    def sources(self, cfg: DictConfig) -> list[HubRef]:
        out = [HubRef(parse_source(str(s))[0], "dataset") for s in cfg.distill.sources]
        return [*out, HubRef(str(cfg.distill.teacher), "model")]

    def plan(self, ctx: StageContext) -> StagePlan:
        c, cl = ctx.cfg.distill, ctx.cfg.cluster
        t = get_template(str(c.template))
        notes = [
            f"teacher {c.teacher} samples k={c.k} responses per problem of {', '.join(map(str, c.sources))} "
            f"(template {t.name}{', our reading' if t.ours else ''}; temperature {c.temperature}, top_p {c.top_p}, "
            f"max_new_tokens {c.max_new_tokens}, max_problems {c.max_problems})",
            f"keep: last \\boxed{{}} right by reward_fns.grade; single well-formed box {c.require_single_box}, "
            f"drop truncated {c.drop_truncated}, tokens in [{c.min_tokens}, {c.max_tokens}]; up to "
            f"{'all' if c.keep == 'all' else c.max_per_problem} per problem ({c.keep})",
        ]
        if c.backend in ("vllm", "ray") or (c.backend == "auto" and cl.device == "cuda"):
            p = gpu_plan(ctx.cfg)
            where = "the Ray cluster (Ray Data actor pool)" if c.backend == "ray" else (
                "this node" + (" (Ray Data actor pool on a local Ray)" if p["engines"] > 1 else ""))
            notes.append(
                f"vLLM on {where}: {p['engines']} engine(s) x tensor parallel {p['tensor_parallel_size']} = "
                f"{p['gpus']} GPU(s); on paper at {c.plan_tokens_per_s_per_gpu:g} tokens/s per GPU and "
                f"{min(PLAN_MEAN_RESPONSE_TOKENS, int(c.max_new_tokens))} tokens per response: "
                f"{p['responses_per_s']:.1f} responses/s = {p['problems_per_s']:.2f} problems/s, "
                f"{p['hours_per_10k_problems']:.1f} h per 10,000 problems")
        else:
            notes.append(f"transformers generate ({c.backend}) on {cl.device}, {c.batch_size} problems per call")
        d = ctx.stage_dir
        return StagePlan(outputs={"data": str(d / OUTPUT), "report": str(d / "report.md")}, notes=notes)

    def run(self, ctx: StageContext) -> DistillOutputs:
        cfg = ctx.cfg
        c = cfg.distill
        sources = []
        for entry in c.sources:
            ref, split = parse_source(str(entry))
            sources.append(SourceRef(ref, ctx.resolve(ref), split))
        engines = gpu_plan(cfg)["engines"] if c.backend in ("vllm", "ray") else 1
        try:
            s = distill(c, sources, str(c.teacher), ctx.resolve(str(c.teacher)), ctx.stage_dir,
                        system_prompt=system_prompt(cfg), max_pixels=int(cfg.data.max_pixels),
                        min_pixels=int(cfg.data.min_pixels), on_bad_row=str(cfg.data.on_bad_row), engines=engines,
                        ray_address=cfg.cluster.address)
        except (BadRowError, OutputExistsError, ValueError) as err:
            raise StageError(f"stage 'distill': {err}") from err
        if s["rows"] == 0:
            raise StageError(
                f"stage 'distill': the teacher {c.teacher} had no response accepted on {s['problems']} problems, "
                f"so sft_data would have nothing to train on; see {s['report']} for the rejection reasons "
                "(a trained teacher, more samples (distill.k) or looser filters help)")
        return DistillOutputs(data=s["output"], report=s["report"], rows=s["rows"], problems=s["problems"],
                              problems_with_kept=s["problems_with_kept"], acceptance_rate=s["acceptance_rate"])


STAGE = DistillStage()
