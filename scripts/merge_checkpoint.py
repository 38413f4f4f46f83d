"""`rlcs merge` by path: merge a verl FSDP actor checkpoint into a Hugging Face model dir (streaming, validated).

    python scripts/merge_checkpoint.py merge --local-dir <out>/global_step_N/actor --target-dir <hf_out> [--dtype bf16]

Same flags as ``python -m GRPO.merger`` (and as ``python -m verl.model_merger merge``); see ``--help``.
"""

import sys

from GRPO.merger.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
