"""A learner handout of the course: everything needed to take it, without the lab solutions.

``python -m stacklab handout DEST`` writes a copy of the course to ``DEST``: the package, the
lessons, the learner copies of the labs (refused if one is older than its solution), the question
bank, the diagrams, and the files that build it (``make lab``; ``environment.yml``/``apt.txt``/
``postBuild`` for JupyterHub or Binder). Left out: ``labs/solutions/``, the tests, CI and the
instructor kit. The copy is checked afterwards: no ``### BEGIN SOLUTION`` block and no solutions folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stacklab.errors import InputError, StackLabError
from stacklab.notebook_runner import ROOT

#: What a learner gets (files and folders relative to the repository root).
INCLUDED = (
    "README.md", "LICENSE", "Makefile", "pyproject.toml", "environment.yml", "apt.txt", "postBuild",
    "stacklab", "notebooks", "labs", "exam", "diagrams",
    "tools/setup.sh", "tools/lab.sh",
)
_IGNORED = shutil.ignore_patterns("solutions", "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


def write_handout(dest: str | Path, *, root: Path = ROOT) -> list[Path]:
    """Copy the learner's part of the course to ``dest`` (a new or empty directory); return the top-level paths."""
    if not isinstance(dest, (str, Path)) or not str(dest).strip():
        raise InputError(f"dest must be a directory path, e.g. 'handout/', got {dest!r}.")
    target = Path(dest).expanduser().resolve()
    if target == root or root in target.parents:
        raise InputError(f"Write the handout outside the course repository (got {target}), e.g. /tmp/handout.")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} exists and is not an empty directory: choose a new path or empty it first.")
    from stacklab import student_labs

    stale = student_labs.generate(root, check_only=True)
    if stale:
        raise StackLabError(
            f"The learner copy {stale[0].name} is out of date with its solution: run "
            "`python -m stacklab student-labs` first, then write the handout."
        )
    written = []
    for name in INCLUDED:
        source = root / name
        if not source.exists():
            raise StackLabError(f"The course file {source} is missing; the handout needs it (is this a full clone?).")
        out = target / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, out, ignore=_IGNORED)
        else:
            shutil.copy2(source, out)
        written.append(out)
    leaked = [p for p in target.rglob("*.ipynb") if "### BEGIN SOLUTION" in p.read_text(encoding="utf-8")]
    leaked += [p for p in target.rglob("solutions") if p.is_dir()]
    if leaked:
        raise StackLabError(f"The handout would contain solutions ({leaked[0]}); nothing should be handed out.")
    return written
