"""Learner copies of the labs: ``labs/solutions/NN_topic_lab.ipynb`` → ``labs/NN_topic_lab.ipynb``.

In a solution notebook, the answer lines of a code cell sit between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; the learner copy keeps the rest of the cell (comments, given code) and puts
``# YOUR CODE HERE`` and ``...`` in place of the answer. All outputs are cleared.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from stacklab.errors import InputError, StackLabError
from stacklab.notebook_runner import ROOT

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)


def strip_solution(source: str) -> str:
    """Replace every solution block in a cell's source by a placeholder, keeping its indentation."""
    if not isinstance(source, str):
        raise InputError(f"source must be a string, got {type(source).__name__}.")
    if source.count(BEGIN) != source.count(END):
        raise StackLabError(f"Unbalanced solution markers: every {BEGIN!r} needs a matching {END!r}.")
    return _BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}...{m.group(2)}", source)


def learner_copy(solution_nb: dict) -> dict:
    """A learner's version of a solution notebook (a new nbformat dict; the input is unchanged)."""
    nb = copy.deepcopy(solution_nb)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell["source"] = strip_solution(source)
        cell["outputs"] = []
        cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def learner_path(solution: Path) -> Path:
    """Where the learner copy of a solution notebook lives."""
    return solution.parent.parent / solution.name


def generate(root: Path | None = None, *, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) every learner copy; return the paths written or stale."""
    import nbformat

    base = Path(root) if root is not None else ROOT
    if not (base / "labs" / "solutions").is_dir():
        raise InputError(f"{base} has no labs/solutions folder; pass the course repository's root folder.")
    solutions = sorted((base / "labs" / "solutions").glob("*_lab.ipynb"))
    touched: list[Path] = []
    for solution in solutions:
        nb = nbformat.read(solution, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []) and BEGIN not in cell.source:
                raise StackLabError(f"{solution.name}: a cell tagged 'solution' has no {BEGIN!r} block.")
        text = nbformat.writes(nbformat.from_dict(learner_copy(nb))) + "\n"
        target = learner_path(solution)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            touched.append(target)
            if not check_only:
                target.write_text(text, encoding="utf-8")
    return touched
