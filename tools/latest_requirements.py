"""Print the project's dependencies (with the test extra) with their version ranges removed.

Used by ``make test-latest``: installing these names with ``--upgrade`` gives the newest releases.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def unpinned(requirement: str) -> str:
    """``"moto[s3,rds]>=5.2.5,<5.3"`` → ``"moto[s3,rds]"`` (environment markers dropped too)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?", requirement)
    if not match:
        raise ValueError(f"cannot read the requirement {requirement!r} in {PYPROJECT}")
    return match.group(1) + (match.group(2) or "")


def latest_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The dependency names (with extras) of the project and its ``test`` extra, unpinned."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = project["dependencies"] + project.get("optional-dependencies", {}).get("test", [])
    return [unpinned(r) for r in requirements]


if __name__ == "__main__":
    sys.stdout.write("\n".join(latest_requirements()) + "\n")
