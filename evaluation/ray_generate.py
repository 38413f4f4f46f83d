"""Generation on a Ray cluster: Ray Data streams items through a pool of backend actors.

The evaluation (inside a Ray job, `cluster=ray`) and the distill stage both use it. Each actor builds its
backend once with the factory it is given (so `auto` resolves to vLLM on the actor's own GPUs), and the
driver appends rows to the same resumable predictions file that `generate_predictions` writes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaluation.backends import Backend, Generation, GenSettings
from evaluation.bench_data import Item
from evaluation.generate import prediction_row, read_predictions
from recipes.atomic import seal_jsonl_tail


class _RayPredictor:
    """One Ray Data actor: a backend (vLLM on its GPUs, or HF) answering batches of items."""

    def __init__(self, factory: Callable[[], Backend]):
        self.backend = factory()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [Item(**json.loads(rec), images=[{"bytes": b, "path": None} for b in imgs])
                 for rec, imgs in zip(batch["record"], batch["images"])]
        t0 = time.monotonic()
        gens = self.backend.generate(items)
        secs = (time.monotonic() - t0) / max(len(items), 1)
        return {"record": list(batch["record"]), "generation": [json.dumps(asdict(g)) for g in gens],
                "gen_seconds": [secs] * len(items)}


def ray_generate(items: Sequence[Item], factory: Callable[[], Backend], label: str, settings: GenSettings,
                 path: Path, engines: int, gpus_per_engine: int, batch_size: int,
                 address: str | None = None) -> dict[str, Any]:
    """`generate_predictions` on a Ray cluster: the items not yet in `path` go through `engines` actors
    (`gpus_per_engine` GPUs each, each building its backend with `factory`, which must pickle); rows are
    appended (fsynced per batch) as they come back, so a rerun resumes by item id."""
    import ray

    want = asdict(settings)
    done = {r["id"] for r in read_predictions(path)}
    todo = [it for it in items if it.id not in done]
    stats: dict[str, Any] = {"total": len(items), "skipped": len(items) - len(todo), "generated": 0,
                             "seconds": 0.0, "items_per_s": None, "backend": f"ray+{label}"}
    if not todo:
        return stats
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ds = ray.data.from_items([{"record": json.dumps(it.record()), "images": [im["bytes"] for im in it.images]}
                              for it in todo])
    ds = ds.map_batches(_RayPredictor, batch_size=batch_size, num_gpus=gpus_per_engine, concurrency=engines,
                        fn_constructor_kwargs={"factory": factory})
    path.parent.mkdir(parents=True, exist_ok=True)
    seal_jsonl_tail(path)
    t0 = time.monotonic()
    with open(path, "a", encoding="utf-8") as f:
        for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
            for rec, gen, secs in zip(batch["record"], batch["generation"], batch["gen_seconds"]):
                item = Item(**json.loads(rec))
                row = prediction_row(item, Generation(**json.loads(gen)), f"ray+{label}", want, float(secs))
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            stats["generated"] += len(batch["record"])
    stats["seconds"] = round(time.monotonic() - t0, 3)
    stats["items_per_s"] = round(stats["generated"] / max(stats["seconds"], 1e-9), 3)
    return stats
