#!/usr/bin/env bash
# The whole pipeline on one GPU, offline: tiny Qwen2.5-VL, synthetic data, a few verl GRPO steps (vLLM).
# Usage: bash recipes/tiny_gpu.sh [key=value ...]   (e.g. dry_run=true, stages=[grpo], grpo.max_steps=8)
RLCS_EXTRAS="${RLCS_EXTRAS:-dev,gpu}"
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" -m recipes.pipeline tiny_gpu "$@"
