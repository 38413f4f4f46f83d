"""The whole evaluation: benchmarks -> predictions (resumable) -> verdicts -> results and reports.

`evaluate` is what the pipeline's eval stage and `scripts/evaluate.py run` call; `rescore` is the
audit path (`scripts/evaluate.py score`): the same numbers from `predictions.jsonl` alone. Both return the
`Results` (evaluation/results.py) they wrote to results.json; `output_files` says where everything is.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from evaluation.backends import GenerationError, GenSettings, make_backend, vllm_available
from evaluation.bench_data import Item, Skipped, load_items
from evaluation.generate import (
    EngineSpec,
    check_complete,
    engine_count,
    generate_predictions,
    generate_sharded,
    gpu_groups,
    read_predictions,
    visible_gpus,
)
from evaluation.reflection import reflection_stats
from evaluation.report import PLOT_PNG, RESULTS_MD, write_reports
from evaluation.results import RESULTS_JSON, Results, ResultsError, load, results_of
from evaluation.score import aggregate, score_rows
from GRPO.paper import paper
from recipes.atomic import atomic_write_text, read_jsonl
from SFT.paper import SYSTEM_PROMPT

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
VERDICTS = "verdicts.jsonl"
JUDGEMENTS = "judgements.jsonl"
SKIPPED = "skipped.jsonl"
JUDGE_LOG = "judge_server.log"
COMPARED_KEYS = ("benchmarks", "average", "n", "scorer", "loading")
"""Keys of results.json that a rescore must reproduce exactly."""
JUDGE_KEYS = ("judge", "four_dimensional_judge")


class EvalFiles(TypedDict):
    """Where an evaluation into one directory writes its files."""

    predictions: str
    verdicts: str
    results: str
    report: str
    plot: str


def output_files(out_dir: Path) -> EvalFiles:
    d = Path(out_dir)
    return EvalFiles(predictions=str(d / PREDICTIONS), verdicts=str(d / VERDICTS), results=str(d / RESULTS_JSON),
                     report=str(d / RESULTS_MD), plot=str(d / PLOT_PNG))


def model_label(model: str) -> str:
    """A short name for a model reference: the hub id, or a directory's last two parts."""
    p = Path(model)
    if p.exists():
        return "/".join(p.resolve().parts[-2:])
    return model


def settings_from(ecfg: Any, model: str) -> GenSettings:
    return GenSettings(
        model=model,
        system_prompt=ecfg.system_prompt if ecfg.system_prompt is not None else SYSTEM_PROMPT,
        user_suffix=str(ecfg.user_suffix or ""),
        temperature=float(ecfg.temperature), top_p=float(ecfg.top_p), max_new_tokens=int(ecfg.max_new_tokens),
        seed=int(ecfg.seed),
        max_pixels=int(ecfg.max_pixels) if ecfg.max_pixels is not None else int(paper("data.max_pixels")),
        min_pixels=int(ecfg.min_pixels) if ecfg.min_pixels is not None else int(paper("data.min_pixels")),
    )


Resolver = Callable[[str, str], str]
"""(reference, `model` | `dataset`) -> local path (or a hub id `from_pretrained` / `load_dataset` accept)."""


def _as_is(ref: str, kind: str) -> str:
    return ref


def _limit(*caps: int | None) -> int | None:
    """The smallest of the item caps given (`eval.limit`, the source's own `limit`); None when none is set."""
    given = [int(c) for c in caps if c is not None]
    return min(given) if given else None


def load_benchmarks(ecfg: Any, resolve: Resolver = _as_is, skipped: list[Skipped] | None = None) -> list[Item]:
    """Items of every configured benchmark (first `limit` of each); rows that cannot become items go to
    `skipped` when it is given."""
    items: list[Item] = []
    for name in ecfg.benchmarks:
        if name not in ecfg.sources:
            raise GenerationError(f"eval.benchmarks has {name!r} but eval.sources has no entry for it")
        src = ecfg.sources[name]
        items.extend(load_items(name, resolve(src.source, "dataset"), src.split,
                                _limit(ecfg.limit, getattr(src, "limit", None)),
                                getattr(src, "config", None), skipped=skipped))
    return items


def _judge(rows: list[dict[str, Any]], out_dir: Path, judge: Any, resolve: Resolver) -> dict[str, bool]:
    """Judge verdicts: at `judge.url`, else through a local server started now and stopped after."""
    from evaluation.judge import judge_rows, judge_server, read_judgements

    def run(url: str) -> dict[str, bool]:
        return judge_rows(rows, out_dir / JUDGEMENTS, url, judge.model, judge.api_key_env, judge.timeout_s,
                          judge.max_workers)

    if judge.url:
        return run(judge.url)
    done = read_judgements(out_dir / JUDGEMENTS, judge.model)
    if all(r["id"] in done for r in rows):  # nothing left to ask: no server needed
        return {r["id"]: done[r["id"]] for r in rows}
    with judge_server(judge, out_dir / JUDGE_LOG, resolve(judge.model, "model") if not judge.launch else None) as url:
        return run(url)


def _score(rows: list[dict[str, Any]], out_dir: Path, judge: Any | None, fallback: bool, preset: str | None,
           resolve: Resolver = _as_is, generation: dict[str, Any] | None = None) -> Results:
    """Grade `rows` (verdicts written to `out_dir`), judge them when `judge` is on, and make the Results."""
    rows, verdicts = score_rows(rows, fallback)
    atomic_write_text(out_dir / VERDICTS, "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts))
    judged = _judge(rows, out_dir, judge, resolve) if judge is not None and judge.enabled else None
    scores = aggregate(rows, verdicts, judged, read_jsonl(out_dir / SKIPPED))
    return results_of(scores, reflection=reflection_stats(rows, {v["id"]: bool(v["correct"]) for v in verdicts}),
                      model=rows[0]["settings"]["model"] if rows else None,
                      settings=rows[0].get("settings") if rows else None, preset=preset,
                      fallback_extraction=fallback, generation=generation)


def resolved_backend(kind: str) -> str:
    """`auto` -> `vllm` when importable with a GPU visible, else `hf`."""
    if kind == "auto":
        return "vllm" if vllm_available() else "hf"
    return kind


def _generate_on_ray(ecfg: Any, items: list[Item], settings: GenSettings, model_path: str, pred_path: Path,
                     address: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Inside a Ray job / on a Ray cluster: Ray Data actors over the cluster's GPUs (one engine per
    `tensor_parallel_size` GPUs), the same resumable predictions file."""
    import ray

    from evaluation.ray_generate import ray_generate

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    tp = int(ecfg.tensor_parallel_size)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    n = engine_count(ecfg.engines, tp, gpus)
    log.info("generation on Ray: %d engine(s) x %d GPU(s) of the cluster's %d", n, tp, gpus)
    factory = functools.partial(make_backend, str(ecfg.backend), settings, model_path, **kwargs)
    stats = ray_generate(items, factory, str(ecfg.backend), settings, pred_path, engines=n,
                         gpus_per_engine=tp if gpus else 0, batch_size=int(ecfg.batch_size), address=address)
    return {**stats, "engines": n}


def _generate(ecfg: Any, items: list[Item], settings: GenSettings, model_path: str, pred_path: Path,
              ray_address: str | None = None) -> dict[str, Any]:
    """On a Ray cluster: Ray Data actors; else one engine in this process (the CPU / HF case), or one
    spawned engine process per GPU group of this node."""
    max_images = max((len(it.images) for it in items), default=1) or 1
    kwargs = {"tensor_parallel_size": int(ecfg.tensor_parallel_size),
              "gpu_memory_utilization": float(ecfg.gpu_memory_utilization),
              "max_model_len": int(ecfg.max_model_len), "max_images": max_images,
              "enforce_eager": bool(ecfg.get("enforce_eager", False))}
    if ray_address:
        return _generate_on_ray(ecfg, items, settings, model_path, pred_path, ray_address, kwargs)
    backend = resolved_backend(str(ecfg.backend))
    tp = int(ecfg.tensor_parallel_size)
    gpus = visible_gpus()
    n = engine_count(ecfg.engines, tp, len(gpus))
    if backend == "vllm" and int(ecfg.max_model_len) <= int(ecfg.max_new_tokens):
        raise GenerationError(f"eval.max_model_len {ecfg.max_model_len} leaves no room for the prompt beside "
                              f"max_new_tokens {ecfg.max_new_tokens}")
    if n == 1 and backend == "hf":
        return generate_predictions(items, lambda: make_backend(backend, settings, model_path, **kwargs), settings,
                                    pred_path, int(ecfg.batch_size))
    groups = gpu_groups(n, tp if backend == "vllm" else 1, gpus)
    return generate_sharded(items, EngineSpec(backend, model_path, kwargs), settings, pred_path,
                            int(ecfg.batch_size), groups)


def evaluate(ecfg: Any, model: str, out_dir: Path, *, resolve: Resolver = _as_is,
             label: str | None = None, ray_address: str | None = None) -> Results:
    """Generate (resuming; on the Ray cluster at `ray_address` when given), score, and report (the files
    `output_files(out_dir)` names). Returns the results written to results.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = resolve(model, "model")
    if Path(model_path).is_dir():
        from recipes.weights import WeightsError, check_weights_dir

        try:
            check_weights_dir(model_path)  # a truncated weight file is named before the engine loads it
        except WeightsError as err:
            raise GenerationError(f"model {err}") from err
    settings = settings_from(ecfg, model)
    skipped: list[Skipped] = []
    items = load_benchmarks(ecfg, resolve, skipped)
    if not items:
        raise GenerationError(f"no benchmark items to evaluate ({', '.join(ecfg.benchmarks) or 'no benchmarks'}"
                              f" with limit {ecfg.limit}; {len(skipped)} rows skipped): nothing would be measured")
    atomic_write_text(out_dir / SKIPPED, "".join(json.dumps(s.record(), ensure_ascii=False) + "\n"
                                                 for s in skipped))
    pred_path = out_dir / PREDICTIONS
    gen = _generate(ecfg, items, settings, model_path, pred_path, ray_address)
    check_complete(items, pred_path)  # predictions < items fails the run, never a silent drop
    label = label or model_label(model)
    results = _score(read_predictions(pred_path), out_dir, ecfg.judge, bool(ecfg.fallback_extraction),
                     str(ecfg.preset), resolve, generation=gen)
    write_reports(out_dir, results, label)
    return results


def rescore(pred_path: Path, out_dir: Path | None = None, *, judge: Any | None = None, label: str | None = None,
            write: bool = True) -> Results:
    """Score a predictions file alone (no model) and, if `write`, write verdicts and reports to `out_dir`.

    The skipped official rows are read from `skipped.jsonl` beside the predictions (when there)."""
    pred_path = Path(pred_path)
    rows = read_predictions(pred_path)
    if not rows:
        raise GenerationError(f"{pred_path}: no predictions to score")
    out_dir = Path(out_dir) if out_dir is not None else pred_path.parent
    label = label or model_label(rows[0]["settings"]["model"])
    skipped = read_jsonl(pred_path.parent / SKIPPED)
    stored = _stored(pred_path.parent / RESULTS_JSON)
    fallback = bool(stored.get("fallback_extraction", True)) if stored else True
    preset = stored.get("preset") if stored else None
    if not write:
        rows, verdicts = score_rows(rows, fallback)
        return results_of(aggregate(rows, verdicts, skipped=skipped), model=rows[0]["settings"]["model"],
                          settings=rows[0].get("settings"), preset=preset)
    out_dir.mkdir(parents=True, exist_ok=True)
    if out_dir != pred_path.parent and skipped:
        atomic_write_text(out_dir / SKIPPED, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped))
    results = _score(rows, out_dir, judge, fallback, preset)
    write_reports(out_dir, results, label)
    return results


def _stored(path: Path) -> Results | None:
    """The results.json beside the predictions being rescored (its preset and fallback setting), if readable."""
    try:
        return load(path)
    except ResultsError:
        return None


def compare_results(stored: Results, fresh: Results) -> list[str]:
    """Differences between a stored results.json and a rescore (empty when they agree exactly)."""
    diffs = []
    for key in COMPARED_KEYS:
        if key == "benchmarks":
            for name in sorted(set(stored.get(key, {})) | set(fresh.get(key, {}))):
                a, b = stored.get(key, {}).get(name), fresh.get(key, {}).get(name)
                if a is not None and b is not None:  # judge results are not rescored
                    a = {k: v for k, v in a.items() if k not in JUDGE_KEYS}
                    b = {k: v for k, v in b.items() if k not in JUDGE_KEYS}
                if a != b:
                    diffs.append(f"benchmarks.{name}: stored {json.dumps(a)[:300]} != rescored {json.dumps(b)[:300]}")
        elif stored.get(key) != fresh.get(key):
            diffs.append(f"{key}: stored {stored.get(key)!r} != rescored {fresh.get(key)!r}")
    return diffs


def hub_resolver(cache_dir: str | None = None, offline: bool = False) -> Resolver:
    """Resolve hub ids, local paths and `tiny:<name>` with recipes.hub (fetching hub ids once)."""
    from recipes import hub
    from recipes.hub import HubRef

    def resolve(ref: str, kind: str) -> str:
        return str(hub.resolve(HubRef(ref, kind), cache_dir, offline))

    return resolve
