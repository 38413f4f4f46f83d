"""Build-on-demand cache of the tiny offline world: tiny models (Qwen2.5-VL, Qwen3-VL) plus small local datasets.

Layout under ``<cache>/tiny-v1/``: ``model/`` (HF model dir), ``qwen3_vl/`` (the tiny Qwen3-VL), ``datasets/<name>/`` (parquet dirs that
``datasets.load_dataset(str(dir), split=...)`` reads) and ``manifest.json``, written last. Each part is
built in a temp dir and renamed into place (``recipes.atomic.atomic_dir``); an exclusive ``fcntl`` lock
on ``<cache>/tiny-v1.lock`` serialises concurrent builders. A part is rebuilt only when its recorded
version differs from the code's, so a complete cache returns at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recipes.atomic import atomic_dir, atomic_write_json

from .registry import DATASET_VERSIONS, MODEL_GPU_VERSION, MODEL_QWEN3_VL_VERSION, MODEL_VERSION

logger = logging.getLogger(__name__)

WORLD_NAME = "tiny-v1"
MANIFEST = "manifest.json"
SEED = 0


@dataclass(frozen=True)
class TinyWorld:
    """Paths of a complete tiny world."""

    root: Path
    """The world's directory (``<cache>/tiny-v1``)."""
    model: Path
    """HF model dir: random Qwen2_5_VLForConditionalGeneration, tokenizer, processor."""
    datasets: dict[str, Path] = field(default_factory=dict)
    """Dataset name -> local dir loadable with ``datasets.load_dataset(str(dir), split=...)``."""
    model_gpu: Path | None = None
    """The same model at head size 64 (``tiny:model_gpu``, for verl + vLLM on a GPU)."""
    models: dict[str, Path] = field(default_factory=dict)
    """Every tiny model by its `tiny:<name>` (model, model_gpu, qwen3_vl); recipes/families.py TINY_MODELS."""


@dataclass(frozen=True)
class Part:
    """One independently cached piece of the world."""

    name: str
    """Key in the manifest, e.g. ``model`` or ``datasets/rl``."""
    version: int
    """Bump when the builder's output changes; a cached part with another version is rebuilt."""
    build: Callable[[Path], None]
    """Writes the part into the (empty, temporary) directory it is given."""


def default_cache_dir() -> Path:
    """``$RLCS_CACHE`` if set, else ``~/.cache/rl-cold-start``."""
    env = os.environ.get("RLCS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rl-cold-start"


def _build_model(out: Path) -> None:
    from .model import build_model_dir

    build_model_dir(out, seed=SEED)


def _build_model_gpu(out: Path) -> None:
    from .model import build_model_dir

    build_model_dir(out, seed=SEED, size="gpu")


def _build_model_qwen3_vl(out: Path) -> None:
    from .model import build_model_dir

    build_model_dir(out, seed=SEED, family="qwen3_vl")


MODEL_PARTS = ("model", "model_gpu", "qwen3_vl")
"""The parts that are model dirs (their names are the `tiny:<name>` references)."""


def _dataset_builder(name: str) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        from .benchmarks import BENCHMARK_BUILDERS
        from .data import TRAIN_BUILDERS

        {**TRAIN_BUILDERS, **BENCHMARK_BUILDERS}[name](out, seed=SEED)

    return build


def _parts() -> list[Part]:
    parts = [Part("model", MODEL_VERSION, _build_model), Part("model_gpu", MODEL_GPU_VERSION, _build_model_gpu),
             Part("qwen3_vl", MODEL_QWEN3_VL_VERSION, _build_model_qwen3_vl)]
    for name, version in DATASET_VERSIONS.items():
        parts.append(Part(f"datasets/{name}", version, _dataset_builder(name)))
    return parts


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        logger.warning("tiny world: unreadable manifest %s (%s); rebuilding", path, e)
        return {}


def _is_current(root: Path, manifest: dict, part: Part) -> bool:
    entry = manifest.get("parts", {}).get(part.name)
    return bool(entry) and entry.get("version") == part.version and (root / part.name).is_dir()


def _world(root: Path, parts: list[Part]) -> TinyWorld:
    datasets = {p.name.split("/", 1)[1]: root / p.name for p in parts if p.name.startswith("datasets/")}
    return TinyWorld(root=root, model=root / "model", datasets=datasets, model_gpu=root / "model_gpu",
                     models={name: root / name for name in MODEL_PARTS})


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def ensure_tiny_world(cache_dir: Path | str | None = None, force: bool = False) -> TinyWorld:
    """Return the tiny world under ``cache_dir`` (default: ``default_cache_dir()``), building what is missing.

    A complete cache returns without taking the lock. ``force`` rebuilds every part.
    """
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = base / WORLD_NAME
    parts = _parts()
    if not force:
        manifest = _read_manifest(root)
        if all(_is_current(root, manifest, p) for p in parts):
            return _world(root, parts)
    root.mkdir(parents=True, exist_ok=True)
    lock_path = base / f"{WORLD_NAME}.lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            manifest = _read_manifest(root)
            entries = dict(manifest.get("parts", {}))
            for part in parts:
                if not force and _is_current(root, manifest, part):
                    continue
                t0 = time.perf_counter()
                target = root / part.name
                logger.info("tiny world: building %s in %s", part.name, target)
                with atomic_dir(target, overwrite=True) as tmp:
                    part.build(tmp)
                seconds = time.perf_counter() - t0
                entries[part.name] = {
                    "version": part.version,
                    "bytes": _dir_bytes(target),
                    "build_seconds": round(seconds, 2),
                }
                # Record progress after every part so an interrupted build resumes where it stopped.
                atomic_write_json(root / MANIFEST, {"world": WORLD_NAME, "seed": SEED, "parts": entries})
                logger.info("tiny world: %s built in %.1f s", part.name, seconds)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return _world(root, parts)


def manifest_of(world: TinyWorld) -> dict:
    """The world's manifest (part -> version, bytes, build_seconds)."""
    return _read_manifest(world.root)
