"""Merge a verl FSDP actor checkpoint into a Hugging Face model dir (streaming, validated).

    python scripts/merge_checkpoint.py merge --local_dir <out>/global_step_N/actor --target_dir <hf_out> [--dtype bf16]

Same flags as ``python -m GRPO.merger`` (and as ``python -m verl.model_merger merge``); see ``--help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from GRPO.merger.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
