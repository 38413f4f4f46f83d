"""Turn per-rank shards of one parameter (DTensor or plain tensor) into its full tensor, one at a time.

A plan is made for every parameter from metadata only (placements, mesh, shapes); the data are read
from the memory-mapped rank files when the parameter is assembled, and the pages read are handed back
to the kernel right after, so resident memory stays near one full tensor.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributed.tensor import DTensor, Replicate, Shard

from .errors import ParameterMismatchError

logger = logging.getLogger(__name__)

#: Device-mesh layouts verl's FSDP workers produce: pure FSDP, or hybrid (replicated ddp x sharded fsdp).
SUPPORTED_MESHES = {("fsdp",): None, ("ddp", "fsdp"): "ddp", ("dp", "fsdp"): "dp"}


@dataclass(frozen=True)
class ParamPlan:
    """How to rebuild one checkpoint entry: which ranks to read, and along which dim to concatenate."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    ranks: tuple[int, ...]
    """Ranks to read, in concatenation order (one rank for a replicated entry)."""
    dim: int | None
    """Concatenation dim; None when the entry is replicated (or world size 1)."""
    check_replicas: bool = False
    """Plain tensors on several ranks must be identical: compare them while assembling."""


def _local(value: torch.Tensor) -> torch.Tensor:
    return value._local_tensor if isinstance(value, DTensor) else value


def plan_param(name: str, entries: list[Any], rank_files: list[str]) -> ParamPlan:
    """Plan one parameter from its per-rank entries (metadata only); raise on any inconsistency."""
    is_dt = [isinstance(e, DTensor) for e in entries]
    if any(is_dt) and not all(is_dt):
        odd = rank_files[is_dt.index(not is_dt[0])]
        raise ParameterMismatchError(f"{odd}: parameter {name!r} is a DTensor on some ranks and plain on others")
    world = len(entries)
    if not is_dt[0]:
        first = entries[0]
        for f, e in zip(rank_files, entries, strict=True):
            if e.shape != first.shape or e.dtype != first.dtype:
                raise ParameterMismatchError(
                    f"{f}: plain tensor {name!r} has {tuple(e.shape)}/{e.dtype}, rank 0 has "
                    f"{tuple(first.shape)}/{first.dtype}; plain entries must be replicated"
                )
        return ParamPlan(name, tuple(first.shape), first.dtype, (0,), None, check_replicas=world > 1)

    first: DTensor = entries[0]
    mesh = first.device_mesh
    names = tuple(mesh.mesh_dim_names or ())
    if names not in SUPPORTED_MESHES:
        raise ParameterMismatchError(
            f"{rank_files[0]}: parameter {name!r} lives on a device mesh {names}; supported: "
            f"{sorted(SUPPORTED_MESHES)} (tensor parallel checkpoints are not FSDP-only)"
        )
    ranks_grid = mesh.mesh
    if ranks_grid.numel() != world:
        raise ParameterMismatchError(
            f"{rank_files[0]}: parameter {name!r} has a mesh of {ranks_grid.numel()} ranks, but {world} rank files"
        )
    placements = tuple(first.placements)
    for f, e in zip(rank_files, entries, strict=True):
        if tuple(e.placements) != placements or e.shape != first.shape or e.dtype != first.dtype:
            raise ParameterMismatchError(
                f"{f}: parameter {name!r} has placements {tuple(e.placements)}, shape {tuple(e.shape)}, "
                f"dtype {e.dtype}; rank 0 has {placements}, {tuple(first.shape)}, {first.dtype}"
            )
    if len(names) == 2:
        if not isinstance(placements[0], Replicate):
            raise ParameterMismatchError(f"{name!r}: expected Replicate on mesh dim {names[0]!r}, got {placements[0]}")
        fsdp_ranks = [int(r) for r in ranks_grid[0].tolist()]
        placement = placements[1]
    else:
        fsdp_ranks = [int(r) for r in ranks_grid.tolist()]
        placement = placements[0]
    shape = tuple(first.shape)
    if isinstance(placement, Replicate):
        return ParamPlan(name, shape, first.dtype, (fsdp_ranks[0],), None)
    if type(placement) is not Shard:  # Partial, _StridedShard, ... : not what FSDP alone writes
        raise ParameterMismatchError(f"{rank_files[0]}: parameter {name!r} has unsupported placement {placement}")
    dim = placement.dim % len(shape)
    total = 0
    for r in fsdp_ranks:
        local = entries[r]._local_tensor
        other = [s for i, s in enumerate(local.shape) if i != dim]
        if local.dim() != len(shape) or other != [s for i, s in enumerate(shape) if i != dim]:
            raise ParameterMismatchError(
                f"{rank_files[r]}: shard of {name!r} has shape {tuple(local.shape)}, incompatible with the "
                f"full shape {shape} sharded on dim {dim}"
            )
        total += local.shape[dim]
    if total != shape[dim]:
        raise ParameterMismatchError(
            f"{name!r}: shards along dim {dim} add up to {total}, the DTensor says {shape[dim]}"
        )
    return ParamPlan(name, shape, first.dtype, tuple(fsdp_ranks), dim)


def release_pages(t: torch.Tensor) -> None:
    """Drop the pages of a memory-mapped, never-written tensor from this process (they stay on disk)."""
    if not sys.platform.startswith("linux") or t.numel() == 0:
        return
    storage = t.untyped_storage()
    start, size = storage.data_ptr(), storage.nbytes()
    page = mmap.PAGESIZE
    lo = start - start % page
    hi = -(-(start + size) // page) * page
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), 4)  # MADV_DONTNEED: clean file pages only


def assemble(plan: ParamPlan, states: list[dict[str, Any]], rank_files: list[str], dtype: torch.dtype | None,
             mmapped: bool = True) -> torch.Tensor:
    """Return the full tensor of ``plan`` in ``dtype`` (None: the checkpoint's dtype), reading one shard at a time."""
    out_dtype = dtype if (dtype is not None and plan.dtype.is_floating_point) else plan.dtype
    out = torch.empty(plan.shape, dtype=out_dtype)
    if plan.dim is None:
        src = _local(states[plan.ranks[0]][plan.name])
        out.copy_(src)
        if plan.check_replicas:
            for r in range(1, len(states)):
                other = _local(states[r][plan.name])
                if not torch.equal(other, src):
                    raise ParameterMismatchError(
                        f"{rank_files[r]}: plain tensor {plan.name!r} differs from rank 0's copy; "
                        "replicated entries must be identical"
                    )
                if mmapped:
                    release_pages(other)
        if mmapped:
            release_pages(src)
        return out
    offset = 0
    for r in plan.ranks:
        local = _local(states[r][plan.name])
        n = local.shape[plan.dim]
        out.narrow(plan.dim, offset, n).copy_(local)
        offset += n
        if mmapped:
            release_pages(local)
    return out
