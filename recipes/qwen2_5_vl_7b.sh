#!/usr/bin/env bash
# The paper's Qwen2.5-VL-7B recipe (8 GPUs): cold-start SFT -> GRPO -> merge -> eval.
# Usage: bash recipes/qwen2_5_vl_7b.sh [key=value ...]   (e.g. dry_run=true, stages=[sft], grpo.rollout_n=5)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" -m recipes.pipeline qwen2_5_vl_7b "$@"
