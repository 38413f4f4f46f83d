#!/usr/bin/env bash
# The paper's method on Qwen3-VL-8B (8 GPUs): cold-start SFT -> GRPO -> merge -> eval.
# Usage: bash recipes/qwen3_vl_8b.sh [key=value ...]   (e.g. dry_run=true, stages=[sft], grpo.rollout_n=5)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" -m recipes.pipeline qwen3_vl_8b "$@"
