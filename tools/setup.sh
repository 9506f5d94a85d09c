#!/usr/bin/env bash
# First-use setup for `make lab` / `make test`: a .venv with the course package, and Graphviz.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Python 3.11+
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  # 3.11 is the tested version; a newer Python 3 also works.
  for candidate in python3.11 python3 python3.12 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  say "Python 3.11 or newer is needed. Install it (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv; macOS: brew install python@3.11) and run make again."
  exit 1
fi

# 2. The virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version)"
  if ! "$PYTHON" -m venv "$VENV"; then
    say "python -m venv failed. On Debian/Ubuntu: sudo apt-get install -y python3-venv ; then run make again."
    exit 1
  fi
fi

# 3. The package and its dependencies: uv when it installs, else pip
start=$(date +%s)
if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1 && [ -x "$VENV/bin/uv" ]; then
  say "installing the course package with uv"
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --compile-bytecode -e ".[test]"
else
  say "uv is not installable here; installing with pip (slower)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
fi
# Byte-compile the course package too (PYTHONDONTWRITEBYTECODE may be set): faster notebook start.
"$VENV/bin/python" -m compileall -q stacklab >/dev/null || true
say "python packages ready in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1) in $VENV)"

# 4. System programs: Graphviz `dot` draws the architecture diagrams (required); memcached serves
#    lesson 12's Memcached clusters (optional: without it the course uses an embedded stand-in).
apt_install() {  # apt_install PACKAGE...: as root with apt-get, else return 1
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -f "$VENV/.apt-updated" ]; then apt-get update -qq && touch "$VENV/.apt-updated"; fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    return 1
  fi
}
if ! command -v dot >/dev/null 2>&1; then
  say "installing Graphviz (apt-get install -y graphviz)"
  if ! apt_install graphviz; then
    say "Graphviz's 'dot' program is missing; the diagrams need it. Install it, then run make again:"
    if command -v apt-get >/dev/null 2>&1; then say "  sudo apt-get install -y graphviz"
    elif command -v dnf >/dev/null 2>&1; then say "  sudo dnf install -y graphviz"
    elif command -v brew >/dev/null 2>&1; then say "  brew install graphviz"
    elif command -v conda >/dev/null 2>&1; then say "  conda install -c conda-forge graphviz"
    else say "  see https://graphviz.org/download/"
    fi
    exit 1
  fi
fi
if ! command -v memcached >/dev/null 2>&1; then
  if apt_install memcached; then
    say "installed memcached (lesson 12's Memcached clusters run on it)"
  else
    say "memcached is not installed: lesson 12 uses the course's embedded Memcached stand-in (fine)."
    say "  for the real server: sudo apt-get install -y memcached  (macOS: brew install memcached)"
  fi
fi

# 5. JupyterLab: no news or update checks (the course is offline)
settings="$VENV/share/jupyter/lab/settings"
mkdir -p "$settings"
cat > "$settings/overrides.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"checkForUpdates": false, "fetchNews": "false"}
}
JSON

touch "$VENV/.stacklab-setup"
say "done: $("$VENV/bin/python" -c 'import boto3, moto; print(f"boto3 {boto3.__version__}, moto {moto.__version__}")'), $(dot -V 2>&1)"
