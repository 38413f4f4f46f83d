"""Model and dataset references: a hub id, a local path, or `tiny:<name>` all become a local path.

Hub ids are fetched once with huggingface_hub (resumable, into one cache every node can read) before
any stage starts, so no GPU waits on a download. Everything downstream loads the local path with the
same `from_pretrained` / `datasets.load_dataset` code.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TINY_PREFIX = "tiny:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class HubRef:
    """Something a stage reads that may have to be fetched first: a model or a dataset."""

    ref: str
    """Hub id, local path, or `tiny:<name>`."""
    kind: str
    """`model` or `dataset`."""


class HubRefError(RuntimeError):
    """A model or dataset reference that cannot be made local."""


def is_offline(offline: bool = False) -> bool:
    return offline or os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def resolve(source: HubRef, cache_dir: str | None = None, offline: bool = False) -> Path:
    """Return a local directory for `source`, fetching or building it when needed."""
    ref = source.ref
    if ref.startswith(TINY_PREFIX):
        from recipes.tiny_world import ensure_tiny_world

        world = ensure_tiny_world()
        name = ref[len(TINY_PREFIX):]
        if name == "model":
            return world.model
        if name == "model_gpu" and world.model_gpu is not None:
            return world.model_gpu
        if name in world.models:
            return world.models[name]
        if name not in world.datasets:
            raise HubRefError(f"{ref!r}: the tiny world has no {name!r}; it has {', '.join(world.models)}, "
                              f"{', '.join(world.datasets)}")
        return world.datasets[name]
    path = Path(ref).expanduser()
    if path.exists():
        return path.resolve()
    if not _HUB_ID.match(ref):
        raise HubRefError(f"{ref!r} is not an existing path, a hub id (org/name) or tiny:<name>")
    return _download(ref, source.kind, cache_dir, is_offline(offline))


def _download(repo_id: str, kind: str, cache_dir: str | None, offline: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_type = "dataset" if kind == "dataset" else "model"
    where = cache_dir or "the default Hugging Face cache (HF_HOME)"
    log.info("fetching %s %s into %s%s", repo_type, repo_id, where, " (offline)" if offline else "")
    try:
        return Path(
            snapshot_download(repo_id=repo_id, repo_type=repo_type, cache_dir=cache_dir, local_files_only=offline)
        )
    except LocalEntryNotFoundError as err:
        hint = "offline mode is on and it is not in the cache" if offline else "the hub could not be reached"
        raise HubRefError(f"{repo_type} {repo_id!r}: {hint} ({where}); fetch it on a connected node first") from err
    except GatedRepoError as err:
        raise HubRefError(f"{repo_type} {repo_id!r} is gated: accept its terms and set HF_TOKEN") from err
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise HubRefError(f"{repo_type} {repo_id!r} does not exist on the hub (or is private)") from err


def resolve_all(sources: list[HubRef], cache_dir: str | None, offline: bool) -> dict[str, str]:
    """Resolve every distinct reference once; return ref -> local path."""
    out: dict[str, str] = {}
    for src in sources:
        if src.ref not in out:
            out[src.ref] = str(resolve(src, cache_dir, offline))
    return out
