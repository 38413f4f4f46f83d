#!/usr/bin/env bash
# The one-GPU proof (scripts/GPU_CHECK.md): carried wheels -> tiny world -> sft_data -> swift sft (ZeRO-2,
# bf16, ~20 steps) -> rl_data -> 2 verl GRPO steps from SFT's checkpoint -> merge (bf16) -> vLLM eval on a
# few items; each stage in its own process session under a timeout; every figure into one JSON file.
# For a machine with one GPU, no network, Python 3.12 and torch 2.11.0 preinstalled; the project's own venv
# is not needed.
#   bash scripts/gpu_check.sh --parts DIR [--out FILE] [--dry-run]   DIR holds part-* (device_carry.py)
#   bash scripts/gpu_check.sh --wheels DIR ...                         DIR holds the *.whl
#   bash scripts/gpu_check.sh --site DIR ...                           already installed with --target DIR
#   ... --stages grpo,merge,eval                                         a rerun of what failed (warm machine)
# --dry-run (or no GPU) runs the CPU stages for real and prints the GPU stages' plan and preflight.
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
    --stages) rest+=(--stages "$2"); shift 2 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$WORK"
start=$SECONDS
# A stamp holds the hash of what it was made from (the parts' contents; the wheels' names and sizes): a changed
# carried set is unpacked and installed again instead of reusing the last one.
set_hash() { (cd "$1" && ls -l --time-style=+ "${@:2}" | awk '{print $5, $NF}') | sha256sum | cut -c1-16; }
if [ -n "$parts" ]; then                     # the carried tar, split in parts: unpack once per carried set
  wheels="$WORK/wheels"
  want="$( (cd "$parts" && sha256sum part-*) | sha256sum | cut -c1-16)"   # ~1 s for the 450 MB
  if [ "$(cat "$wheels/.complete" 2>/dev/null)" != "$want" ]; then
    rm -rf "$wheels" && mkdir -p "$wheels"
    cat "$parts"/part-* | tar x -C "$wheels"
    echo "$want" > "$wheels/.complete"
  fi
fi
if [ -n "$wheels" ]; then                    # no index, no dependency resolution: the set is closed
  want="$(set_hash "$wheels" $(cd "$wheels" && ls *.whl))"
  if [ "$(cat "$site/.complete" 2>/dev/null)" != "$want" ]; then
    rm -rf "$site"
    "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
    mkdir -p "$site" && echo "$want" > "$site/.complete"
  fi
fi
export RLCS_INSTALL_SECONDS=$((SECONDS - start))
echo "[gpu_check] install: ${RLCS_INSTALL_SECONDS} s (site: $site)" >&2
export PYTHONPATH="$site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# pip --target puts console scripts (swift, ray, vllm, deepspeed) in <site>/bin, which nothing puts on PATH
# (recipes/ms_swift.py looks beside sys.executable, then on PATH), and it writes none at all when a package
# ships a top-level `bin` package (rouge, an ms-swift dependency, does): gpu_check.py writes them again from
# the site's entry points into $WORK/bin.
export RLCS_SITE="$site" PATH="$WORK/bin:$site/bin:$PATH"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RLCS_PYTHON="$PY"
# flashinfer-cubin is not carried: FlashInfer's sampler would JIT-compile its kernels with nvcc on first use,
# minutes of device time; vLLM's own PyTorch/Triton sampler does the same job.
export VLLM_USE_FLASHINFER_SAMPLER=0
# The pipeline's children (verl's Ray workers, vLLM engines) find the carried packages through PYTHONPATH.
exec "$PY" "$ROOT/scripts/gpu_check.py" --out "$OUT" --work "$WORK" ${rest[@]+"${rest[@]}"}
