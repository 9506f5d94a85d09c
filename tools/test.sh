#!/usr/bin/env bash
# `make test`: lint, unit and content tests, real-browser tests, then strict nbval over every lesson and lab solution.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
bash tools/setup-browser.sh  # Chromium for the real-browser tests in tests/e2e
exec python -m pytest tests notebooks labs/solutions \
  --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env "$@"
