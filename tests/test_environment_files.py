"""The files that build the course elsewhere: environment.yml, apt.txt and postBuild (Binder,
repo2docker, JupyterHub images) agree with pyproject.toml and with what repo2docker would build,
and the project's pip dependencies resolve for Python 3.11 on Linux."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from latest_requirements import latest_requirements, unpinned  # noqa: E402

BIN = Path(sys.executable).parent
DEBIAN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_structure():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert set(env) <= {"name", "channels", "dependencies"}, f"unexpected keys: {sorted(env)}"
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    assert "python=3.11" in conda, "Binder must build the tested Python (3.11)"
    assert "graphviz" in conda, "the diagrams need Graphviz's dot"
    assert "pip" in conda
    wanted = _pyproject()["project"]["requires-python"]
    assert wanted == ">=3.11"
    # repo2docker runs `env update` with only environment.yml copied into the image: a local pip install
    # of the package here would fail, so postBuild installs it after the repository is copied.
    pip_parts = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    for part in pip_parts:
        assert not any(p.startswith(("-e", ".", "-r")) for p in part), f"local pip install in environment.yml: {part}"


def test_apt_txt_lists_the_system_programs_setup_installs():
    names = [line.strip() for line in (ROOT / "apt.txt").read_text().splitlines() if line.strip()]
    assert names, "apt.txt is empty"
    bad = [n for n in names if not DEBIAN_NAME.match(n)]
    assert not bad, f"not Debian/Ubuntu package names: {bad}"
    setup = (ROOT / "tools" / "setup.sh").read_text()
    installed_by_setup = set(re.findall(r"apt_install ([a-z0-9+.-]+)", setup))
    assert installed_by_setup == {"graphviz", "memcached"}
    assert installed_by_setup <= set(names), "apt.txt must list what tools/setup.sh installs with apt"


def test_postbuild_installs_the_course_package_after_the_repository_is_copied():
    post = ROOT / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "pip install --no-cache-dir -e ." in text


def test_repo2docker_would_build_this_repository(tmp_path):
    r2d = BIN / "repo2docker"
    if not r2d.exists():
        r2d = Path(shutil.which("repo2docker") or "")
    assert r2d.is_file(), "repo2docker is a test dependency: run make test (setup installs it)"
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("environment.yml", "apt.txt", "postBuild", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, repo / name)
    out = subprocess.run(
        [str(r2d), "--no-build", "--debug", str(repo)], capture_output=True, text=True, timeout=120
    )
    dockerfile = out.stdout + out.stderr
    assert out.returncode == 0, dockerfile[-3000:]
    assert "Building conda environment for python=3.11" in dockerfile
    apt_line = next(line for line in dockerfile.splitlines() if "apt-get install --yes --no-install-recommends" in line
                    and "locales" not in line)
    for name in ("graphviz", "memcached"):
        assert name in apt_line, f"repo2docker would not install {name}: {apt_line}"
    env_update = dockerfile.index('env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"')
    copy_repo = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    post_build = dockerfile.index("./postBuild")
    assert env_update < copy_repo < post_build, "environment.yml first, then the repository, then postBuild"


def test_latest_requirements_lift_every_range_and_keep_extras():
    assert unpinned("moto[s3,rds]>=5.2.5,<5.3") == "moto[s3,rds]"
    assert unpinned("psycopg[binary]>=3.2,<4") == "psycopg[binary]"
    assert unpinned("pyyaml") == "pyyaml"
    project = _pyproject()["project"]
    names = latest_requirements()
    assert len(names) == len(project["dependencies"]) + len(project["optional-dependencies"]["test"])
    assert not [n for n in names if any(c in n for c in "<>=!~;")]


def test_pip_dependencies_resolve_for_python_311_on_linux(tmp_path):
    uv = BIN / "uv"
    if not uv.exists():
        pytest.skip("uv is not in the venv (setup installs it when the index offers it)")
    out = subprocess.run(
        [str(uv), "pip", "compile", "-q", str(ROOT / "pyproject.toml"), "--extra", "test",
         "--python-version", "3.11", "--python-platform", "linux", "-o", str(tmp_path / "req.txt")],
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    pinned = (tmp_path / "req.txt").read_text()
    for name in ("boto3", "moto", "jupyterlab", "pgserver", "fakeredis", "playwright"):
        assert re.search(rf"^{name}==", pinned, re.M), f"{name} missing from the resolution"
