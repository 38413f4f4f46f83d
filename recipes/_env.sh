# Sourced by recipes/*.sh and scripts/test.sh: makes sure the project virtual environment exists and
# matches pyproject.toml, then exports ROOT and PY. Installs only when missing or out of date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RLCS_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
EXTRAS="${RLCS_EXTRAS:-dev}"
stamp="$VENV/.rlcs-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[rlcs] installing the project into $VENV (extras: $EXTRAS); this happens once" >&2
  start=$SECONDS
  [ -x "$PY" ] || python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check uv
  "$VENV/bin/uv" pip install --quiet --python "$PY" -e "$ROOT[$EXTRAS]"
  echo "$want" > "$stamp"
  echo "[rlcs] install done in $((SECONDS - start)) s" >&2
fi
export ROOT PY VENV
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
