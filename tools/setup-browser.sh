#!/usr/bin/env bash
# The real-browser tests (make e2e, part of make test) drive the system Chromium with Playwright;
# Playwright never downloads a browser. Installs Chromium from the distribution when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ -n "${STACKLAB_CHROMIUM:-}" ] && [ -x "$STACKLAB_CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Chromium for the browser tests (apt-get install -y chromium; about 500 MB, once)"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f .venv/.apt-updated ]; then apt-get update -qq && touch .venv/.apt-updated; fi
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  say "Chromium is missing, so the browser tests will be skipped. To run them, install it:"
  say "  sudo apt-get install -y chromium   (or set STACKLAB_CHROMIUM=/path/to/chrome)"
fi
