"""Run course notebooks in a fresh kernel and time every cell (``make timings`` and the tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from stacklab._validate import require_number
from stacklab.errors import InputError, StackLabError

#: The repository root (the package lives in ``<root>/stacklab``).
ROOT = Path(__file__).resolve().parent.parent
#: Notebooks the course tests and times, in syllabus order.
NOTEBOOK_DIRS = ("notebooks", "labs/solutions")


@dataclass
class CellTiming:
    """One executed code cell."""

    index: int
    seconds: float
    source_head: str
    run: int


@dataclass
class NotebookRun:
    """The result of running one notebook (possibly several times in the same kernel)."""

    path: Path
    seconds: float
    cells: list[CellTiming] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notebook: Any = field(default=None, repr=False)

    def slowest(self, n: int = 3) -> list[CellTiming]:
        """The ``n`` slowest cells."""
        return sorted(self.cells, key=lambda c: c.seconds, reverse=True)[:n]


def course_notebooks(root: Path | None = None) -> list[Path]:
    """Every lesson and lab solution notebook, in syllabus order."""
    base = Path(root) if root is not None else ROOT
    found: list[Path] = []
    for folder in NOTEBOOK_DIRS:
        found.extend(sorted((base / folder).glob("*.ipynb")))
    return found


def _seconds(cell: object) -> float:
    execution = getattr(cell, "metadata", {}).get("execution", {})
    try:
        begin = datetime.fromisoformat(execution["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(execution["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (end - begin).total_seconds())


def run_notebook(path: str | Path, *, times: int = 1, timeout: int = 120) -> NotebookRun:
    """Execute every code cell of ``path`` top to bottom, ``times`` times in one fresh kernel.

    Errors are collected (not raised) so a caller can report every failing cell.
    """
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb_path = Path(path)
    if nb_path.suffix != ".ipynb" or not nb_path.is_file():
        raise InputError(f"{nb_path} is not a notebook file; pass the path of an existing .ipynb file.")
    require_number("times", times, minimum=1, maximum=5, integer=True)
    require_number("timeout", timeout, minimum=1, integer=True)
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=True,
        resources={"metadata": {"path": str(nb_path.parent)}},
    )
    result = NotebookRun(path=nb_path, seconds=0.0, notebook=nb)
    started = time.perf_counter()
    env = dict(os.environ)
    with client.setup_kernel(env=env, cwd=str(nb_path.parent)):
        for run in range(1, times + 1):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    result.errors.append(f"run {run}, cell {index}: {str(exc).strip().splitlines()[-1]}")
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        message = f"run {run}, cell {index}: {output.get('ename')}: {output.get('evalue')}"
                        if message not in result.errors:
                            result.errors.append(message)
                head = next((line for line in cell.source.splitlines() if line.strip()), "")[:60]
                result.cells.append(CellTiming(index, _seconds(cell), head, run))
    result.seconds = time.perf_counter() - started
    return result


def timings_report(paths: list[Path] | None = None, *, slowest: int = 5) -> str:
    """Run each notebook once and return a table: seconds per notebook and the slowest cells."""
    require_number("slowest", slowest, minimum=1, integer=True)
    notebooks = paths if paths is not None else course_notebooks()
    if not notebooks:
        raise StackLabError("No notebooks found under notebooks/ or labs/solutions/.")
    runs = [run_notebook(p) for p in notebooks]
    lines = [f"{'notebook':<52} {'total s':>8} {'cells s':>8} {'max cell s':>10}"]
    for run in runs:
        cells = sum(c.seconds for c in run.cells)
        worst = max((c.seconds for c in run.cells), default=0.0)
        name = str(run.path.relative_to(ROOT)) if run.path.is_relative_to(ROOT) else str(run.path)
        lines.append(f"{name:<52} {run.seconds:>8.2f} {cells:>8.2f} {worst:>10.2f}")
        lines.extend(f"    ERROR {e}" for e in run.errors)
    every = sorted(
        ((c, r.path.name) for r in runs for c in r.cells), key=lambda item: item[0].seconds, reverse=True
    )[:slowest]
    lines.append("")
    lines.append(f"slowest {len(every)} cells:")
    lines.extend(f"  {c.seconds:6.2f} s  {n} cell {c.index}: {c.source_head}" for c, n in every)
    total = sum(r.seconds for r in runs)
    lines.append(f"\n{len(runs)} notebooks in {total:.1f} s (each in a fresh kernel, kernel start included)")
    return "\n".join(lines)
