#!/usr/bin/env bash
# Run the test suite (installs the project into .venv first when missing). Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/../recipes/_env.sh"
cd "$ROOT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$VENV/bin/ruff" check .
exec "$PY" -m pytest "$@"
