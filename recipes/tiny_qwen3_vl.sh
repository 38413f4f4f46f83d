#!/usr/bin/env bash
# The whole pipeline on a CPU, offline, on the tiny Qwen3-VL and synthetic data.
# Usage: bash recipes/tiny_qwen3_vl.sh [key=value ...]   (e.g. dry_run=true, stages=[sft], grpo.rollout_n=5)
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
exec "$PY" -m recipes.pipeline tiny_qwen3_vl "$@"
