#!/usr/bin/env bash
# Run the test suite (installs the project into .venv first when missing), one tier at a time (docs/testing.md):
#   bash scripts/test.sh --fast   every module's unit tests: no training, no Ray, no verl/ms-swift import (< 3 min)
#   bash scripts/test.sh          everything but the end-to-end pipelines, the fault suite and the Ray cluster
#   bash scripts/test.sh --full   everything (what CI runs: .ci/run)
# Other args go to pytest (a file, -k, -x ...); a -m given there replaces the tier's selection.
source "$(dirname "${BASH_SOURCE[0]}")/../recipes/_env.sh"
cd "$ROOT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
FULL_ONLY="e2e or faults or cluster"
tier=(-m "not ($FULL_ONLY)")
args=()
for a in "$@"; do
  case "$a" in
    --fast) tier=(-m "not (slow or $FULL_ONLY)") ;;
    --full) tier=() ;;
    *) args+=("$a") ;;
  esac
done
"$VENV/bin/ruff" check .
exec "$PY" -m pytest "${tier[@]}" "${args[@]}"
