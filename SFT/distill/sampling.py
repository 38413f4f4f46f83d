"""Teacher sampling through the evaluation's generation code (evaluation/generate.py).

Each problem becomes k evaluation `Item`s (`<source>/<row>#<j>`) and `generate_predictions` writes their
responses to a predictions file (fsynced per batch, resumed by id). Backends: evaluation's HF and vLLM
backends (vLLM wrapped so that the k copies of a prompt are one request with n=k: vLLM seeds every request
alike, so copies would come back identical), and a Ray Data pipeline that runs the same backends as an
actor pool across a Ray cluster's GPUs.
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

from evaluation.benchmarks import Item
from evaluation.generate import (
    Backend,
    Generation,
    GenSettings,
    _prediction_row,
    make_backend,
    read_predictions,
    render_prompt,
)

log = logging.getLogger(__name__)


@dataclass
class Problem:
    """One source row ready to put to the teacher."""

    source: str
    """`<ref>@<split>`."""
    row: int
    problem: str
    """The problem text as the source has it (with its `<image>` tags): what the student is trained on."""
    gold: str
    images: list[bytes]
    """Encoded RGB images (checked by recipes.rowdata.prepare_row)."""

    @property
    def key(self) -> str:
        return f"{self.source}/{self.row}"


def items_for(p: Problem, question: str, k: int) -> list[Item]:
    """The k evaluation items of one problem (same prompt, sample index j in id and meta)."""
    return [Item(id=f"{p.key}#{j}", benchmark=p.source, question=question, gold=p.gold, options=None,
                 answer_kind="free", meta={"source": p.source, "row": p.row, "sample": j, "problem": p.problem},
                 images=[{"bytes": b, "path": None} for b in p.images]) for j in range(k)]


def sample_of(item_id: str) -> tuple[str, int]:
    """(problem key, sample index) of an item id."""
    key, _, j = item_id.rpartition("#")
    return key, int(j)


class NSamples:
    """A vLLM backend whose duplicate prompts in a batch go out as one request with `n` samples."""

    def __init__(self, backend: Any):
        self.inner = backend
        self.name = backend.name

    def generate(self, items: Sequence[Item]) -> list[Generation]:
        groups: dict[str, list[int]] = {}
        for i, it in enumerate(items):
            groups.setdefault(sample_of(it.id)[0], []).append(i)
        firsts = [items[idx[0]] for idx in groups.values()]
        params = [self.inner.params.clone() for _ in firsts]
        for p, idx in zip(params, groups.values()):
            p.n = len(idx)
        requests = []
        for it in firsts:
            req: dict[str, Any] = {"prompt": render_prompt(self.inner.processor, it, self.inner.settings)}
            if it.images:
                imgs = it.pil_images()
                req["multi_modal_data"] = {"image": imgs if len(imgs) > 1 else imgs[0]}
            requests.append(req)
        outputs = self.inner.llm.generate(requests, params, use_tqdm=False)
        gens: list[Generation] = [Generation("", "missing", 0, 0)] * len(items)
        for out, idx in zip(outputs, groups.values()):
            for i, c in zip(idx, out.outputs):
                gens[i] = Generation(c.text, str(c.finish_reason or "stop"), len(out.prompt_token_ids or ()),
                                     len(c.token_ids))
        return gens


def backend_factory(kind: str, settings: GenSettings, model_path: str, **vllm_kwargs: Any) -> Callable[[], Backend]:
    """A factory that builds the backend once, on first call (generate_predictions calls it per chunk)."""
    cache: list[Backend] = []

    def factory() -> Backend:
        if not cache:
            backend = make_backend(kind, settings, model_path, **vllm_kwargs)
            if backend.name == "hf":
                plain_sampling(backend.model.generation_config)
            cache.append(NSamples(backend) if backend.name == "vllm" else backend)
        return cache[0]

    return factory


def plain_sampling(generation_config: Any) -> None:
    """Neutralise the near-greedy defaults Qwen2.5-VL ships in generation_config.json (top_k 1, top_p 0.001,
    repetition_penalty 1.05), which transformers applies to every `generate` call that does not override them:
    evaluation's HFBackend sets temperature and top_p only, so without this the k samples of a prompt come out
    identical at any temperature (measured on the tiny teacher). vLLM, given explicit SamplingParams, does not
    apply them."""
    generation_config.top_k = 0
    generation_config.repetition_penalty = 1.0


# -- Ray Data ---------------------------------------------------------------------------------------------

class _RayPredictor:
    """One Ray Data actor: an evaluation backend (vLLM on its GPUs, or HF) answering batches of items."""

    def __init__(self, kind: str, settings: dict[str, Any], model_path: str, vllm_kwargs: dict[str, Any]):
        self.backend = backend_factory(kind, GenSettings(**settings), model_path, **vllm_kwargs)()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [Item(**json.loads(rec), images=[{"bytes": b, "path": None} for b in imgs])
                 for rec, imgs in zip(batch["record"], batch["images"])]
        t0 = time.monotonic()
        gens = self.backend.generate(items)
        secs = (time.monotonic() - t0) / max(len(items), 1)
        return {"record": list(batch["record"]), "generation": [json.dumps(asdict(g)) for g in gens],
                "gen_seconds": [secs] * len(items)}


def ray_generate(items: Sequence[Item], kind: str, settings: GenSettings, model_path: str, path: Path,
                 engines: int, gpus_per_engine: int, batch_size: int, address: str | None = None,
                 **vllm_kwargs: Any) -> dict[str, Any]:
    """`generate_predictions` on a Ray cluster: Ray Data streams the items not yet in `path` through
    `engines` backend actors (`gpus_per_engine` GPUs each) and the driver appends the rows as they come."""
    import ray

    want = asdict(settings)
    done = {r["id"] for r in read_predictions(path)}
    todo = [it for it in items if it.id not in done]
    stats: dict[str, Any] = {"total": len(items), "skipped": len(items) - len(todo), "generated": 0,
                             "seconds": 0.0, "items_per_s": None, "backend": f"ray+{kind}"}
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
                        fn_constructor_kwargs={"kind": kind, "settings": want, "model_path": model_path,
                                               "vllm_kwargs": vllm_kwargs})
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(path, "a", encoding="utf-8") as f:
        for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
            for rec, gen, secs in zip(batch["record"], batch["generation"], batch["gen_seconds"]):
                item = Item(**json.loads(rec))
                row = _prediction_row(item, Generation(**json.loads(gen)), f"ray+{kind}", want, float(secs))
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            stats["generated"] += len(batch["record"])
    stats["seconds"] = round(time.monotonic() - t0, 3)
    stats["items_per_s"] = round(stats["generated"] / max(stats["seconds"], 1e-9), 3)
    return stats
