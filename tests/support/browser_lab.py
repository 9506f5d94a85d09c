"""A headless JupyterLab on 127.0.0.1 driven by Playwright in the system Chromium (no browser download).

Used by the real-browser tests (``make e2e``). The course is copied to a temporary directory first, so
"Run All" and JupyterLab's autosave never touch the repository's notebooks, and the kernels keep their
progress in a temporary file.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "e2e"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Chromium never leaves the machine: every host name except loopback fails to resolve.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]


def chromium_path() -> str | None:
    """The system Chromium (``STACKLAB_CHROMIUM`` overrides), or None when none is installed."""
    explicit = os.environ.get("STACKLAB_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_course(dest: Path) -> None:
    for folder in ("notebooks", "labs", "diagrams", "exam"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


@contextmanager
def jupyterlab(workdir: Path) -> Iterator[str]:
    """Start JupyterLab on 127.0.0.1 over a copy of the course; yield its base URL; stop it."""
    course = workdir / "course"
    _copy_course(course)
    home = workdir / "home"
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell stays in the page (no virtual scrolling), so an error anywhere in a notebook is seen
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the test session sets Agg; kernels in JupyterLab use the inline backend
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTERLAB_SETTINGS_DIR=str(home / ".jupyter" / "lab" / "user-settings"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        STACKLAB_PROGRESS=str(workdir / "progress.json"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.root_dir={course}", "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--ServerApp.port_retries=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (workdir / "jupyterlab.log").open("w")
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({proc.returncode}): {(workdir / 'jupyterlab.log').read_text()}")
            try:
                if requests.get(f"{base}/api/status", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not answer on 127.0.0.1 within 60 s")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def shutdown_kernels(base: str) -> None:
    """Stop every kernel of the server (between notebooks)."""
    for session in requests.get(f"{base}/api/sessions", timeout=10).json():
        requests.delete(f"{base}/api/sessions/{session['id']}", timeout=10)
