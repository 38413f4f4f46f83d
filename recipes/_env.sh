# Sourced by recipes/*.sh and scripts/test.sh: makes sure the project's Python environment has what
# pyproject.toml asks for (extras: RLCS_EXTRAS, default dev), then exports ROOT, PY and VENV.
# - An environment that already has it (installed by hand, by a cluster image, or by us) is used as it
#   is: the network is reached only when something is missing (recipes/envcheck.py says what).
# - A dry run (dry_run=true among the arguments) never installs the gpu extra: plans need no GPU packages.
# - RLCS_WHEELHOUSE=DIR installs from that folder of wheels too (e.g. a flash-attn wheel built for the
#   node); RLCS_NO_INSTALL=1 never installs: it names what is missing and stops.
# - RLCS_VENV=DIR uses another venv; RLCS_PYTHON=/path/to/python uses that interpreter as it is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RLCS_VENV:-$ROOT/.venv}"
PY="${RLCS_PYTHON:-$VENV/bin/python}"
EXTRAS="${RLCS_EXTRAS:-dev}"
for arg in "$@"; do
  case "$arg" in
    dry_run=true|dry_run=True|dry_run=1)
      if [[ ",$EXTRAS," == *",gpu,"* ]]; then
        EXTRAS="$(echo ",$EXTRAS," | sed -e 's/,gpu,/,/g' -e 's/^,//' -e 's/,$//')"
        echo "[rlcs] dry run: the gpu extra is not installed for a plan" >&2
      fi ;;
  esac
done
stamp="$VENV/.rlcs-installed"
want="$(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16)-$EXTRAS"
if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  missing=""
  if [ -x "$PY" ] && missing="$("$PY" "$ROOT/recipes/envcheck.py" "$ROOT/pyproject.toml" "$EXTRAS" 2>&1)"; then
    echo "[rlcs] $PY already has what pyproject.toml asks for (extras: $EXTRAS): using it as it is" >&2
    if [ -z "${RLCS_PYTHON:-}" ] && [ -w "$VENV" ]; then echo "$want" > "$stamp"; fi
  elif [ "${RLCS_NO_INSTALL:-0}" = 1 ] || [ -n "${RLCS_PYTHON:-}" ]; then
    echo "[rlcs] $PY lacks (extras: $EXTRAS): ${missing:-a Python environment}" >&2
    echo "[rlcs] not installing (RLCS_NO_INSTALL=1 or RLCS_PYTHON set): install them, or unset it" >&2
    exit 3
  else
    echo "[rlcs] installing the project into $VENV (extras: $EXTRAS)${missing:+; missing: $(echo "$missing" | head -3 | tr '\n' ' ')}" >&2
    start=$SECONDS
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check uv
    links=()
    [ -n "${RLCS_WHEELHOUSE:-}" ] && links=(--find-links "$RLCS_WHEELHOUSE")
    "$VENV/bin/uv" pip install --quiet --python "$PY" ${links[@]+"${links[@]}"} -e "$ROOT[$EXTRAS]"
    echo "$want" > "$stamp"
    echo "[rlcs] install done in $((SECONDS - start)) s" >&2
  fi
fi
export ROOT PY VENV
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
