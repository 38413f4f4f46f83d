"""Shared fixtures: the tiny offline world, and skipping GPU-only tests where there is no GPU."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _has_gpu() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _has_gpu():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_world():
    """The tiny Qwen2.5-VL and synthetic datasets, built once and cached in $RLCS_CACHE."""
    from recipes.tiny_world import ensure_tiny_world

    return ensure_tiny_world()


@pytest.fixture(scope="session")
def symbolic_pool():
    """math-verify's worker pool (reward_fns/timeout.py), started once per test session: a worker imports
    sympy for seconds (tens of seconds on a loaded machine), so the reward-table modules share one warm pool
    instead of each waiting for it."""
    from reward_fns.timeout import get_pool

    pool = get_pool()
    pool.warm()
    return pool
