"""Resumable generation into `predictions.jsonl`, in this process or in one spawned process per GPU group
(engines); the backends are evaluation/backends.py.

Predictions are appended to `predictions.jsonl` (flushed and fsynced after every batch); a rerun skips
the items already there, so an interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evaluation.backends import Backend, Generation, GenerationError, GenSettings, make_backend
from evaluation.bench_data import Item
from recipes.atomic import read_jsonl, seal_jsonl_tail

log = logging.getLogger(__name__)


# -- the resumable predictions file --------------------------------------------------------------------

def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a predictions file ([] when missing; a torn last line is ignored; other bad lines raise)."""
    try:
        return read_jsonl(path)
    except ValueError as err:
        raise GenerationError(str(err)) from err


def _settings_of(row: dict[str, Any]) -> dict[str, Any]:
    return row.get("settings", {})


def _check_settings(rows: list[dict[str, Any]], want: dict[str, Any], path: Path) -> None:
    for row in rows:
        if _settings_of(row) != want:
            raise GenerationError(
                f"{path} holds predictions made with other settings ({_settings_of(row)}), not {want}; "
                "use another output directory (or move that file aside)"
            )


def prediction_row(item: Item, gen: Generation, backend: str, settings: dict[str, Any], secs: float) -> dict[str, Any]:
    return {**item.record(), "response": gen.text, "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens, "backend": backend,
            "settings": settings, "gen_seconds": round(secs, 4)}


def _append_generations(todo: Sequence[Item], backend: Backend, settings: GenSettings, path: Path,
                        batch_size: int) -> int:
    """Generate `todo` batch by batch, appending (flushed, fsynced) rows to `path`; returns the count."""
    want = asdict(settings)
    seal_jsonl_tail(path)  # a complete last row without its newline is kept, a torn one cut
    done = 0
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="items", desc=f"eval {path.stem}", dynamic_ncols=True, smoothing=0.1,
               mininterval=2.0)  # items left and an estimate of the time left
    with bar, open(path, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            b0 = time.monotonic()
            gens = backend.generate(batch)
            if len(gens) != len(batch):
                raise GenerationError(f"backend {backend.name} returned {len(gens)} responses for {len(batch)}")
            secs = (time.monotonic() - b0) / len(batch)
            for it, gen in zip(batch, gens):
                f.write(json.dumps(prediction_row(it, gen, backend.name, want, secs), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done += len(batch)
            bar.update(len(batch))
            log.debug("%s: generated %d/%d", path.name, done, len(todo))
    return done


def check_complete(items: Sequence[Item], path: Path) -> None:
    """Fail when `path` lacks a prediction for any item: a run never reports on fewer items than it has."""
    have = {r["id"] for r in read_predictions(path)}
    missing = [it.id for it in items if it.id not in have]
    if missing:
        raise GenerationError(f"{path}: {len(items) - len(missing)} predictions for {len(items)} items; missing "
                              f"{len(missing)} (first: {', '.join(missing[:5])}); rerun to generate them")


def _stats(items: Sequence[Item], todo: Sequence[Item], engines: int) -> dict[str, Any]:
    return {"total": len(items), "skipped": len(items) - len(todo), "generated": 0, "seconds": 0.0,
            "items_per_s": None, "backend": None, "engines": engines}


def _finish_stats(stats: dict[str, Any], t0: float) -> dict[str, Any]:
    stats["seconds"] = round(time.monotonic() - t0, 3)
    stats["items_per_s"] = round(stats["generated"] / max(stats["seconds"], 1e-9), 3)
    return stats


def generate_predictions(items: Sequence[Item], backend_factory: Callable[[], Backend], settings: GenSettings,
                         path: Path, batch_size: int) -> dict[str, Any]:
    """Generate in this process for every item not yet in `path`, appending one row per item after each batch.

    The backend is built only when something is left to do. Returns counts and throughput.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = read_predictions(path)
    _check_settings(existing, asdict(settings), path)
    done = {row["id"] for row in existing}
    todo = [it for it in items if it.id not in done]
    stats = _stats(items, todo, 1)
    if not todo:
        log.info("all %d items already in %s", len(items), path)
        return stats
    backend = backend_factory()
    stats["backend"] = backend.name
    log.info("generating %d items (%d already done) with %s", len(todo), stats["skipped"], backend.name)
    t0 = time.monotonic()
    stats["generated"] = _append_generations(todo, backend, settings, path, batch_size)
    return _finish_stats(stats, t0)


# -- several engines: one process per GPU group, each appending to its own part file ---------------------

@dataclass(frozen=True)
class EngineSpec:
    """What an engine process needs to build its backend (picklable)."""

    backend: str
    model_path: str
    vllm_kwargs: dict[str, Any]


def visible_gpus() -> list[str]:
    """Device ids this process may use: `CUDA_VISIBLE_DEVICES`, else every GPU torch sees (none on a CPU)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def engine_count(requested: int | None, tensor_parallel_size: int, n_gpus: int) -> int:
    """`requested`, else one engine per `tensor_parallel_size` GPUs (at least 1)."""
    if requested is not None:
        if requested < 1:
            raise GenerationError(f"eval.engines must be >= 1, got {requested}")
        return requested
    return max(1, n_gpus // max(1, tensor_parallel_size))


def gpu_groups(n_engines: int, tensor_parallel_size: int, gpus: Sequence[str]) -> list[list[str]]:
    """The GPUs of each engine (disjoint, `tensor_parallel_size` each); empty lists without GPUs."""
    if not gpus:
        return [[] for _ in range(n_engines)]
    need = n_engines * tensor_parallel_size
    if need > len(gpus):
        raise GenerationError(f"{n_engines} engine(s) x tensor_parallel_size {tensor_parallel_size} need {need} "
                              f"GPUs; {len(gpus)} visible ({','.join(gpus)})")
    return [list(gpus[k * tensor_parallel_size:(k + 1) * tensor_parallel_size]) for k in range(n_engines)]


def part_path(path: Path, k: int) -> Path:
    """Engine `k`'s predictions file beside `path` (merged into `path` when every engine is done)."""
    return path.with_name(f"{path.name}.engine{k}")


def _parts(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.engine*"))


def _engine_main(k: int, items: list[Item], spec: EngineSpec, settings: GenSettings, out: str, batch_size: int,
                 devices: list[str]) -> None:
    """Entry point of engine process `k` (spawned: nothing of the parent's CUDA state is inherited)."""
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s engine{k} %(levelname)s %(name)s: %(message)s")
    backend = make_backend(spec.backend, settings, spec.model_path, **spec.vllm_kwargs)
    _append_generations(items, backend, settings, Path(out), batch_size)


def merge_parts(items: Sequence[Item], path: Path) -> int:
    """Fold the engines' part files into `path` (atomically, in item order), then remove them; returns rows."""
    from recipes.atomic import atomic_write_text

    rows: dict[str, dict[str, Any]] = {}
    for p in [path, *_parts(path)]:
        for row in read_predictions(p):
            rows.setdefault(row["id"], row)
    order = {it.id: i for i, it in enumerate(items)}
    ordered = sorted(rows.values(), key=lambda r: order.get(r["id"], len(order)))
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    for p in _parts(path):
        p.unlink()
    return len(ordered)


def generate_sharded(items: Sequence[Item], spec: EngineSpec, settings: GenSettings, path: Path, batch_size: int,
                     groups: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Generate with one spawned process per entry of `groups` (its GPUs), items dealt round-robin.

    Every engine appends to its own part file, so an interrupted run resumes per item (rows already in
    `path` or any part are skipped); the parts are merged into `path` only when every engine succeeded.
    """
    import multiprocessing as mp

    path.parent.mkdir(parents=True, exist_ok=True)
    want = asdict(settings)
    done: set[str] = set()
    for p in [path, *_parts(path)]:
        rows = read_predictions(p)
        _check_settings(rows, want, p)
        done |= {r["id"] for r in rows}
    todo = [it for it in items if it.id not in done]
    stats = _stats(items, todo, len(groups))
    if todo:
        stats["backend"] = spec.backend
        ctx = mp.get_context("spawn")
        t0 = time.monotonic()
        procs = []
        for k, devices in enumerate(groups):
            share = todo[k::len(groups)]
            if not share:
                continue
            log.info("engine %d: %d items on GPUs [%s]", k, len(share), ",".join(devices) or "cpu")
            proc = ctx.Process(target=_engine_main, name=f"eval-engine{k}",
                               args=(k, share, spec, settings, str(part_path(path, k)), batch_size, list(devices)))
            proc.start()
            procs.append((k, proc))
        failed = []
        try:
            for k, proc in procs:
                proc.join()
                if proc.exitcode != 0:
                    failed.append(f"engine {k} exited with {proc.exitcode}")
        finally:
            for _, proc in procs:  # interrupted: stop the engines, keep their parts for the rerun
                if proc.is_alive():
                    proc.terminate()
                    proc.join(30)
        stats["generated"] = len(todo)
        if failed:
            raise GenerationError(f"{'; '.join(failed)} (see its log above); rows written so far are kept in "
                                  f"{path.name}.engine*, a rerun generates only what is missing")
        _finish_stats(stats, t0)
    if _parts(path):
        merge_parts(items, path)
    return stats
