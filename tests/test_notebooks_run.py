"""Every notebook runs top to bottom twice in one kernel, fast, offline, and never with real keys.

The kernel gets real-looking AWS keys, a profile and config files (as a learner's laptop would
have); an audit hook loaded into the kernel and its `!aws` subprocesses logs every socket
connection, every name lookup and the access key of every signed request.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from stacklab.notebook_runner import ROOT, course_notebooks, run_notebook

PLANTED_KEY = "AKIAPLANTEDREALKEY01"
AUDIT = ROOT / "tests" / "support" / "audit"
MAX_CELL_SECONDS = 3.0


def _loopback(host: str) -> bool:
    if host in ("localhost", "None", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture()
def learner_laptop(tmp_path, monkeypatch):
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[default]\naws_access_key_id = {PLANTED_KEY}\naws_secret_access_key = planted-secret\n"
        f"[prod]\naws_access_key_id = {PLANTED_KEY}\naws_secret_access_key = planted-secret\n"
    )
    (aws / "config").write_text("[default]\nregion = eu-west-1\n[profile prod]\nregion = eu-west-1\n")
    log = tmp_path / "audit.log"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", PLANTED_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "planted-session-token")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://real-endpoint.example.com")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("STACKLAB_AUDIT_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", f"{AUDIT}:{ROOT}")
    return log


NOTEBOOKS = course_notebooks()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_notebook_runs_twice_offline_fast_and_without_real_keys(notebook: Path, learner_laptop: Path):
    result = run_notebook(notebook, times=2)
    assert not result.errors, "\n".join(result.errors)

    slow = [c for c in result.cells if c.run == 1 and c.seconds >= MAX_CELL_SECONDS]
    assert not slow, [f"cell {c.index} ({c.source_head}) took {c.seconds:.2f} s" for c in slow]

    lines = learner_laptop.read_text().splitlines() if learner_laptop.exists() else []
    events = [line.split()[1:] for line in lines]
    assert ["loaded", "audit"] in events, "the audit hook is not loaded in the kernel, so this test proves nothing"
    signed = [e[1] for e in events if e[0] == "sign"]
    source = notebook.read_text(encoding="utf-8")
    if "boto3" in source or "stacklab.client(" in source or "!aws " in source:
        assert signed, "the audit hook saw no signed request although the notebook calls AWS: this test proves nothing"
    assert PLANTED_KEY not in signed, "a request was signed with the learner's own access key"
    leaving = sorted({f"{e[0]} {e[1]}" for e in events if e[0] in ("connect", "resolve") and not _loopback(e[1])})
    assert not leaving, f"non-loopback network activity: {leaving}"
