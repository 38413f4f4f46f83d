"""The whole evaluation: benchmarks -> predictions (resumable) -> verdicts -> results and reports.

`evaluate` is what the pipeline's eval stage and `scripts/evaluate.py run` call; `rescore` is the
audit path (`scripts/evaluate.py score`): the same numbers from `predictions.jsonl` alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.benchmarks import Item, load_items
from evaluation.generate import (
    GenerationError,
    GenSettings,
    generate_predictions,
    make_backend,
    read_predictions,
)
from evaluation.report import write_reports
from evaluation.score import aggregate, score_rows
from recipes.atomic import atomic_write_text

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
VERDICTS = "verdicts.jsonl"
JUDGEMENTS = "judgements.jsonl"
COMPARED_KEYS = ("benchmarks", "average", "n", "scorer")
"""Keys of results.json that a rescore must reproduce exactly."""


def model_label(model: str) -> str:
    """A short name for a model reference: the hub id, or a directory's last two parts."""
    p = Path(model)
    if p.exists():
        return "/".join(p.resolve().parts[-2:])
    return model


def settings_from(ecfg: Any, model: str) -> GenSettings:
    from recipes.config import MAX_PIXELS, MIN_PIXELS, SYSTEM_PROMPT

    return GenSettings(
        model=model,
        system_prompt=ecfg.system_prompt if ecfg.system_prompt is not None else SYSTEM_PROMPT,
        temperature=float(ecfg.temperature), top_p=float(ecfg.top_p), max_new_tokens=int(ecfg.max_new_tokens),
        seed=int(ecfg.seed),
        max_pixels=int(ecfg.max_pixels) if ecfg.max_pixels is not None else MAX_PIXELS,
        min_pixels=int(ecfg.min_pixels) if ecfg.min_pixels is not None else MIN_PIXELS,
    )


Resolver = Callable[[str, str], str]
"""(reference, `model` | `dataset`) -> local path (or a hub id `from_pretrained` / `load_dataset` accept)."""


def _as_is(ref: str, kind: str) -> str:
    return ref


def load_benchmarks(ecfg: Any, resolve: Resolver = _as_is) -> list[Item]:
    """Items of every configured benchmark (first `limit` of each)."""
    items: list[Item] = []
    for name in ecfg.benchmarks:
        if name not in ecfg.sources:
            raise GenerationError(f"eval.benchmarks has {name!r} but eval.sources has no entry for it")
        src = ecfg.sources[name]
        items.extend(load_items(name, resolve(src.source, "dataset"), src.split, ecfg.limit,
                                getattr(src, "config", None)))
    return items


def _score_and_report(rows: list[dict[str, Any]], out_dir: Path, label: str, judge: Any | None) -> dict[str, Any]:
    rows, verdicts = score_rows(rows)
    atomic_write_text(out_dir / VERDICTS, "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in verdicts))
    judged = None
    if judge is not None and judge.enabled:
        from evaluation.judge import judge_rows

        judged = judge_rows(rows, out_dir / JUDGEMENTS, judge.url, judge.model, judge.api_key_env,
                            judge.timeout_s, judge.max_workers)
    results = aggregate(rows, verdicts, judged)
    results["model"] = rows[0]["settings"]["model"] if rows else None
    results["settings"] = rows[0].get("settings") if rows else None
    return results


def evaluate(ecfg: Any, model: str, out_dir: Path, *, resolve: Resolver = _as_is,
             label: str | None = None) -> dict[str, Any]:
    """Generate (resuming), score, and report. Returns the results dict plus the report paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = resolve(model, "model")
    settings = settings_from(ecfg, model)
    items = load_benchmarks(ecfg, resolve)
    max_images = max((len(it.images) for it in items), default=1) or 1

    def factory():  # vLLM settings are ignored by the hf backend
        return make_backend(ecfg.backend, settings, model_path, tensor_parallel_size=int(ecfg.tensor_parallel_size),
                            gpu_memory_utilization=float(ecfg.gpu_memory_utilization),
                            max_model_len=int(ecfg.max_model_len), max_images=max_images)

    pred_path = out_dir / PREDICTIONS
    gen = generate_predictions(items, factory, settings, pred_path, int(ecfg.batch_size))
    label = label or model_label(model)
    results = _score_and_report(read_predictions(pred_path), out_dir, label, ecfg.judge)
    results["generation"] = gen
    paths = write_reports(out_dir, results, label)
    return {**results, "paths": {"predictions": str(pred_path), "verdicts": str(out_dir / VERDICTS), **paths}}


def rescore(pred_path: Path, out_dir: Path | None = None, *, judge: Any | None = None, label: str | None = None,
            write: bool = True) -> dict[str, Any]:
    """Score a predictions file alone (no model) and, if `write`, write verdicts and reports to `out_dir`."""
    pred_path = Path(pred_path)
    rows = read_predictions(pred_path)
    if not rows:
        raise GenerationError(f"{pred_path}: no predictions to score")
    out_dir = Path(out_dir) if out_dir is not None else pred_path.parent
    label = label or model_label(rows[0]["settings"]["model"])
    if not write:
        rows, verdicts = score_rows(rows)
        results = aggregate(rows, verdicts)
        results["model"] = rows[0]["settings"]["model"]
        results["settings"] = rows[0].get("settings")
        return results
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _score_and_report(rows, out_dir, label, judge)
    paths = write_reports(out_dir, results, label)
    return {**results, "paths": paths}


def compare_results(stored: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Differences between a stored results.json and a rescore (empty when they agree exactly)."""
    diffs = []
    for key in COMPARED_KEYS:
        if key == "benchmarks":
            for name in sorted(set(stored.get(key, {})) | set(fresh.get(key, {}))):
                a, b = stored.get(key, {}).get(name), fresh.get(key, {}).get(name)
                if a is not None and b is not None:  # judge results are not rescored
                    a = {k: v for k, v in a.items() if k != "judge"}
                    b = {k: v for k, v in b.items() if k != "judge"}
                if a != b:
                    diffs.append(f"benchmarks.{name}: stored {json.dumps(a)[:300]} != rescored {json.dumps(b)[:300]}")
        elif stored.get(key) != fresh.get(key):
            diffs.append(f"{key}: stored {stored.get(key)!r} != rescored {fresh.get(key)!r}")
    return diffs


def compose_eval_config(preset: str = "paper", overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """An EvalConfig (as a structured OmegaConf node) from `recipes/conf/eval/<preset>.yaml` plus
    `key=value` overrides (`limit=10`, `sources.mathvision.split=testmini`); ValueError when invalid."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from evaluation.config import EvalConfig

    conf_dir = Path(__file__).resolve().parent.parent / "recipes" / "conf" / "eval"
    path = conf_dir / f"{preset}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in conf_dir.glob("*.yaml")))
        raise ValueError(f"unknown eval preset {preset!r}; available: {known}")
    try:
        return OmegaConf.merge(OmegaConf.structured(EvalConfig), OmegaConf.load(path),
                               OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as err:
        raise ValueError(f"eval preset {preset!r} with overrides {list(overrides)}: {err}") from err


def hub_resolver(cache_dir: str | None = None, offline: bool = False) -> Resolver:
    """Resolve hub ids, local paths and `tiny:<name>` with recipes.hub (fetching hub ids once)."""
    from recipes import hub
    from recipes.stage import Source

    def resolve(ref: str, kind: str) -> str:
        return str(hub.resolve(Source(ref, kind), cache_dir, offline))

    return resolve
