#!/usr/bin/env bash
# `make test-latest`: the whole suite against the NEWEST release of every dependency (the version
# ranges in pyproject.toml lifted), in .venv-latest, to catch drift before learners meet it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-latest
say() { printf '\033[1m[test-latest]\033[0m %s\n' "$*"; }
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip uv
"$VENV/bin/python" tools/latest_requirements.py > "$VENV/requirements-latest.txt"
say "installing the newest releases of: $(tr '\n' ' ' < "$VENV/requirements-latest.txt")"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --upgrade -r "$VENV/requirements-latest.txt"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
"$VENV/bin/uv" pip list --python "$VENV/bin/python" --format=freeze > "$VENV/installed.txt"
say "versions under test are in $VENV/installed.txt"
bash tools/setup-browser.sh
export PATH="$PWD/$VENV/bin:$PATH"
exec python -m pytest tests notebooks labs/solutions \
  --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env "$@"
