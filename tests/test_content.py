"""Content checks: notebook conventions, README syllabus, no typos carried over from the notes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stacklab.notebook_runner import ROOT, course_notebooks

NOTEBOOKS = course_notebooks()
LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Misspellings in the source notes that must never reach the course.
NOTE_TYPOS = [
    "serivces", "hoisting", "Hight avalibility", "avalibility", "Confugure", "CloundFront", "cashes",
    "firsty", "efficieny", "ROute", "Benstalk", "Latnecy", "Aamazon", "hightly", "Eleastic", "autamoatically",
    "tree-tier", "PostgresSQL", "ElasticCache", "witch each",
]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_template(path: Path):
    nb = _load(path)
    cells = nb["cells"]
    first = _text(cells[0])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# ")
    for heading in ("Learning objectives", "Prerequisites", "Time", "Exam domains"):
        assert heading.lower() in first.lower(), f"opening cell lacks '{heading}'"
    second = _text(cells[1])
    assert cells[1]["cell_type"] == "code" and "stacklab.start(" in second
    code_before = [c for c in cells[:1] if c["cell_type"] == "code"]
    assert not code_before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_are_kept_and_clean(path: Path):
    nb = _load(path)
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not _text(cell).strip():
            continue
        assert cell.get("execution_count") is not None, f"cell {index} was not executed before commit"
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"cell {index} has an error output"
            blob = json.dumps(output)
            assert "/root/" not in blob and "/home/" not in blob, f"cell {index} shows a local path"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_ends_with_recap_quiz_and_cleanup(path: Path):
    cells = _load(path)["cells"]
    sources = [_text(c) for c in cells]
    assert any("quiz(" in s or "practice_exam(" in s for s in sources), "no quiz"
    assert any("recap" in s.lower() for s in sources if s), "no recap"
    assert any("stacklab.reset()" in s or "stacklab.stop()" in s for s in sources), "no cleanup"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_typos_from_the_source_notes(path: Path):
    text = "\n".join(_text(c) for c in _load(path)["cells"])
    found = [typo for typo in NOTE_TYPOS if re.search(rf"\b{re.escape(typo)}\b", text)]
    assert not found, f"typos copied from the notes: {found}"


def test_readme_syllabus_lists_every_lesson_and_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make test" in readme
    for path in LESSONS:
        assert path.stem in readme, f"README syllabus lacks {path.stem}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
