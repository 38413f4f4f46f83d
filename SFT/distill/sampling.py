"""Teacher sampling through the evaluation's generation code (evaluation/backends.py).

Each problem becomes k evaluation `Item`s (`<source>/<row>#<j>`) and `generate_predictions` writes their
responses to a predictions file (fsynced per batch, resumed by id). Backends: evaluation's HF and vLLM
backends (vLLM wrapped so that the k copies of a prompt are one request with n=k: vLLM seeds every request
alike, so copies would come back identical), and a Ray Data pipeline that runs the same backends as an
actor pool across a Ray cluster's GPUs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from evaluation.backends import Backend, Generation, GenSettings, make_backend
from evaluation.bench_data import Item

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
    """Encoded RGB images (checked by recipes.data.rows.prepare_row)."""

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
        outputs = self.inner.llm.generate([self.inner.request(it) for it in firsts], params, use_tqdm=False)
        gens: list[Generation] = [Generation("", "missing", 0, 0)] * len(items)
        for out, idx in zip(outputs, groups.values()):
            for i, c in zip(idx, out.outputs):
                gens[i] = Generation(c.text, str(c.finish_reason or "stop"), len(out.prompt_token_ids or ()),
                                     len(c.token_ids))
        return gens


def backend_factory(kind: str, settings: GenSettings, model_path: str, **vllm_kwargs: Any) -> Callable[[], Backend]:
    """A factory that builds the backend once, on first call (generate_predictions calls it per chunk; a Ray
    actor calls it once); a vLLM backend sends the k copies of a prompt as one request with n=k."""
    cache: list[Backend] = []

    def factory() -> Backend:
        if not cache:
            backend = make_backend(kind, settings, model_path, **vllm_kwargs)
            cache.append(NSamples(backend) if backend.name == "vllm" else backend)
        return cache[0]

    return factory
