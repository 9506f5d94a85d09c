"""`make lab` serves JupyterLab on 127.0.0.1 only, opened at the first lesson."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import requests

from stacklab.notebook_runner import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, read from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table, encoding="ascii").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_make_lab_serves_jupyterlab_on_loopback_at_the_first_lesson(tmp_path):
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), DISPLAY="")
    proc = subprocess.Popen(
        ["bash", "tools/lab.sh", f"--port={port}", "--ServerApp.token=course-test", "--ServerApp.port_retries=0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/status?token=course-test", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
            time.sleep(0.3)
        home = requests.get(f"{base}/?token=course-test", timeout=5, allow_redirects=False)
        assert "/lab/tree/notebooks/00_start_here.ipynb" in home.headers.get("Location", "")
        lesson = requests.get(f"{base}/api/contents/notebooks/00_start_here.ipynb?token=course-test", timeout=5)
        assert lesson.status_code == 200
        assert _listening_addresses(port) <= {"0100007F"}, _listening_addresses(port)
        assert _listening_addresses(port), "could not see the listening socket"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
