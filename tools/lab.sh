#!/usr/bin/env bash
# `make lab`: JupyterLab on 127.0.0.1, opened at the first lesson.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
args=(--ip=127.0.0.1 --ServerApp.root_dir="$PWD" --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb)
if [ "$(uname -s)" != "Darwin" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  args+=(--no-browser)
  echo "[lab] no display found: open the URL printed below in your browser."
fi
if [ "$(id -u)" = "0" ]; then args+=(--allow-root); fi
exec jupyter lab "${args[@]}" "$@"
