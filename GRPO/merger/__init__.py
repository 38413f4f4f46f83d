"""Streaming, validated merger of verl FSDP checkpoints into Hugging Face models.

``merge(local_dir, target_dir, dtype=None, max_shard_size="5GB", overwrite=False) -> MergeReport``;
``rlcs merge --local-dir <.../actor> --target-dir <out>`` is its CLI.
"""

from .errors import CheckpointLayoutError, LoraMergeError, MergeError, ParameterMismatchError, ShardReadError
from .merge import MergeReport, merge
from .shards import find_latest_actor_dir

__all__ = [
    "CheckpointLayoutError",
    "LoraMergeError",
    "MergeError",
    "MergeReport",
    "ParameterMismatchError",
    "ShardReadError",
    "find_latest_actor_dir",
    "merge",
]
