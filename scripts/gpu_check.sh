#!/usr/bin/env bash
# The one-GPU proof (scripts/GPU_CHECK.md): carried wheels -> tiny world -> tiny RL data -> 2 verl GRPO steps
# (vLLM rollouts, our reward) -> our merger -> vLLM eval on a few items; every figure into one JSON file.
# For a machine with one GPU, no network, Python 3.12 and torch 2.11.0 preinstalled; the project's own venv
# is not needed.
#   bash scripts/gpu_check.sh --parts DIR [--out FILE] [--dry-run]   DIR holds part-* (device_carry.py)
#   bash scripts/gpu_check.sh --wheels DIR ...                         DIR holds the *.whl
#   bash scripts/gpu_check.sh --site DIR ...                           already installed with --target DIR
# --dry-run (or no GPU) runs everything up to the GPU stages and records those as skipped, with the reason.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${RLCS_PYTHON:-python3}"
WORK="${RLCS_GPU_CHECK_WORK:-/tmp/rlcs_gpu_check}"
OUT="$WORK/gpu_check.json"
parts="" wheels="" site="$WORK/site" rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    --parts) parts="$2"; shift 2 ;;
    --wheels) wheels="$2"; shift 2 ;;
    --site) site="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --dry-run) rest+=(--dry-run); shift ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
start=$SECONDS
if [ -n "$parts" ]; then                     # the carried tar, split in parts: unpack once
  wheels="$WORK/wheels"
  if [ ! -f "$wheels/.complete" ]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    cat "$parts"/part-* | tar x -C "$wheels"
    touch "$wheels/.complete"
  fi
fi
if [ -n "$wheels" ] && [ ! -f "$site/.complete" ]; then   # no index, no dependency resolution: the set is closed
  rm -rf "$site"
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
  touch "$site/.complete"
fi
export RLCS_INSTALL_SECONDS=$((SECONDS - start))
echo "[gpu_check] install: ${RLCS_INSTALL_SECONDS} s (site: $site)" >&2
export PYTHONPATH="$site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RLCS_PYTHON="$PY"
# flashinfer-cubin is not carried: FlashInfer's sampler would JIT-compile its kernels with nvcc on first use,
# minutes of device time; vLLM's own PyTorch/Triton sampler does the same job.
export VLLM_USE_FLASHINFER_SAMPLER=0
# The pipeline's children (verl's Ray workers, vLLM engines) find the carried packages through PYTHONPATH.
exec "$PY" "$ROOT/scripts/gpu_check.py" --out "$OUT" --work "$WORK" ${rest[@]+"${rest[@]}"}
