"""The instructor kit's facts, read from the course, and a staleness check so the kit cannot drift.

The kit (``instructors/outcomes-and-mistakes.md``, ``instructors/agendas.md``) is prose written by hand,
but what it describes comes from the course: each lesson's learning objectives (the notebook's opening
cell) and each lab's checks (the :func:`stacklab.checks.lab_check` registry). This module reads those
sources and :func:`kit_problems` lists every place where the kit no longer matches them:

- every lesson ``notebooks/NN_*.ipynb`` has a heading ``## NN — Title`` (the notebook's title) followed by
  a marker ``<!-- objectives: notebooks/NN_topic.ipynb sha256:XXXXXXXX -->`` whose hash is
  :func:`fingerprint` of the notebook's current objectives (so an edited objective flags the section);
- every registered check has exactly one heading ``#### `NN.name` — title`` with its current title,
  and there is no heading for a check that does not exist;
- every ❌ message the kit quotes in a check's section (text between “ and ”) appears in that lab's tests
  ``tests/test_labNN_checks.py``, so the kit names only mistakes the tests prove the check catches;
- the agendas quote a measured time for every lesson notebook (a line naming ``notebooks/NN_*.ipynb``), and
  their time table's "computed" columns equal :func:`allowance_minutes` of the lesson and of its lab.

:func:`allowance_minutes` is the agendas' rule for a learner's time on a notebook, computed from the
notebook itself (words to read, cells to run, exercises to write). Run ``python -m stacklab.instructor_notes``
to print the problems, the marker line of each lesson, and each notebook's allowance.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from stacklab.errors import InputError, StackLabError
from stacklab.notebook_runner import ROOT

__all__ = [
    "LessonOpening",
    "allowance_minutes",
    "checks_by_lesson",
    "fingerprint",
    "kit_problems",
    "lesson_openings",
    "marker",
    "read_opening",
]

OUTCOMES = Path("instructors") / "outcomes-and-mistakes.md"
AGENDAS = Path("instructors") / "agendas.md"
_TITLE_RE = re.compile(r"# (\d{2}) — (.+)")
_MARKER_RE = re.compile(r"<!-- objectives: (\S+) sha256:([0-9a-f]{8}) -->")
#: a row of the agendas' time table: | NN | lesson | run s | syllabus | computed | used | lab run s | lab syllabus |
#: lab computed | lab used |
_ROW_RE = re.compile(r"^\| (\d{2}) \| (.+) \|$", re.MULTILINE)
_QUOTE_RE = re.compile(r"“([^”]+)”")
_CHECK_HEADING_RE = re.compile(r"^#### `(\d{2}\.[a-z0-9_-]+)` — (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class LessonOpening:
    """What a lesson's opening cell says: number, title, objectives (one string each), time line."""

    number: str
    title: str
    objectives: tuple[str, ...]
    time: str
    path: Path


def _section(text: str, heading: str) -> str:
    """The text after ``**heading`` up to the next bold heading paragraph."""
    start = text.find(f"**{heading}")
    if start < 0:
        return ""
    body = text[start + len(heading) + 2 :]
    end = re.search(r"\n\s*\n\*\*", body)
    return body[: end.start()] if end else body


def read_opening(path: str | Path) -> LessonOpening:
    """Read the opening markdown cell of the lesson notebook ``path``."""
    nb_path = Path(path)
    if nb_path.suffix != ".ipynb" or not nb_path.is_file():
        raise InputError(f"{nb_path} is not a notebook file; pass the path of an existing .ipynb file.")
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
        cell = cells[0]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise StackLabError(
            f"{nb_path} is not a readable notebook ({exc}); open it in JupyterLab to repair it."
        ) from exc
    text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    first = text.splitlines()[0] if text else ""
    match = _TITLE_RE.fullmatch(first.strip())
    if cell.get("cell_type") != "markdown" or not match:
        raise StackLabError(f"{nb_path}'s first cell should be markdown starting '# NN — Title'; it starts {first!r}.")
    objectives = []
    for line in _section(text, "Learning objectives").splitlines():
        if line.startswith("- "):
            objectives.append(line[2:].strip())
        elif line.startswith("  ") and objectives:
            objectives[-1] += " " + line.strip()
    if not objectives:
        raise StackLabError(f"{nb_path}'s opening cell has no bulleted 'Learning objectives' list.")
    time = " ".join(_section(text, "Time").split()).lstrip(":*— ").strip()
    return LessonOpening(match.group(1), match.group(2).strip(), tuple(objectives), time, nb_path)


#: The agendas' allowance rule: reading speed for technical prose, minutes per cell run, per exercise written.
WORDS_PER_MINUTE = 150
LESSON_CELL_MINUTES = 1.0
LAB_CELL_MINUTES = 0.5
EXERCISE_MINUTES = 5.0


def allowance_minutes(path: str | Path) -> int:
    """A learner's time on notebook ``path``, rounded up to 5 minutes, by the agendas' rule.

    Lesson: words of markdown ÷ 150 words a minute + 1 minute per code cell (run it, read the output).
    Lab: words ÷ 150 + 0.5 minute per given code cell + 5 minutes per exercise (cells tagged ``solution``:
    write the answer, run the check, fix one mistake).
    """
    nb_path = Path(path)
    if nb_path.suffix != ".ipynb" or not nb_path.is_file():
        raise InputError(f"{nb_path} is not a notebook file; pass the path of an existing .ipynb file.")
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StackLabError(f"{nb_path} is not a readable notebook ({exc}).") from exc
    words = given = exercises = 0
    for cell in cells:
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell.get("cell_type") == "markdown":
            words += len(re.findall(r"[A-Za-z0-9']+", text))
        elif cell.get("cell_type") == "code":
            if "solution" in cell.get("metadata", {}).get("tags", []):
                exercises += 1
            else:
                given += 1
    cell_minutes = LAB_CELL_MINUTES if exercises else LESSON_CELL_MINUTES
    minutes = words / WORDS_PER_MINUTE + given * cell_minutes + exercises * EXERCISE_MINUTES
    return 5 * math.ceil(minutes / 5)


def lesson_openings(root: str | Path | None = None) -> list[LessonOpening]:
    """The opening of every lesson notebook ``notebooks/NN_*.ipynb`` under ``root``, in order."""
    base = Path(root) if root is not None else ROOT
    paths = sorted((base / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise InputError(f"no lesson notebooks under {base / 'notebooks'}; pass the course's root folder.")
    return [read_opening(p) for p in paths]


def fingerprint(opening: LessonOpening) -> str:
    """8 hex digits of the SHA-256 of the objectives (whitespace-normalised): changes when one does."""
    if not isinstance(opening, LessonOpening):
        raise InputError(f"fingerprint() takes a LessonOpening (from read_opening), got {type(opening).__name__}.")
    text = "\n".join(" ".join(o.split()) for o in opening.objectives)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def marker(opening: LessonOpening, root: str | Path | None = None) -> str:
    """The marker line that ties a kit section to the lesson's current objectives."""
    base = Path(root) if root is not None else ROOT
    try:
        rel = opening.path.resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        rel = opening.path.as_posix()
    return f"<!-- objectives: {rel} sha256:{fingerprint(opening)} -->"


def checks_by_lesson() -> dict[str, list[tuple[str, str]]]:
    """``{"01": [("01.vpc", "Exercise 1 · The VPC"), ...], ...}`` from the lab_check registry."""
    from stacklab.checks import list_checks

    found: dict[str, list[tuple[str, str]]] = {}
    for lab in list_checks():
        found.setdefault(lab.lesson, []).append((lab.check_id, lab.title))
    return found


def _outcome_problems(text: str, openings: list[LessonOpening], root: Path) -> list[str]:
    problems = []
    markers = {path: digest for path, digest in _MARKER_RE.findall(text)}
    for opening in openings:
        heading = f"## {opening.number} — {opening.title}"
        if not re.search(rf"^{re.escape(heading)}$", text, re.MULTILINE):
            problems.append(f"{OUTCOMES}: no heading '{heading}' for {opening.path.name}.")
        want = marker(opening, root)
        rel = _MARKER_RE.fullmatch(want).group(1)
        if rel not in markers:
            problems.append(f"{OUTCOMES}: no objectives marker for {rel}; add `{want}` under its heading.")
        elif markers[rel] != fingerprint(opening):
            problems.append(
                f"{OUTCOMES}: the learning objectives of {rel} changed since the kit was written: re-read them, "
                f"update the section and its marker to `{want}`."
            )
    return problems


def _check_problems(text: str, registry: dict[str, list[tuple[str, str]]]) -> list[str]:
    problems = []
    headings: dict[str, list[str]] = {}
    for check_id, title in _CHECK_HEADING_RE.findall(text):
        headings.setdefault(check_id, []).append(title.strip())
    known = {cid: title for checks in registry.values() for cid, title in checks}
    for check_id, title in known.items():
        seen = headings.get(check_id, [])
        if not seen:
            problems.append(f"{OUTCOMES}: check {check_id} ({title!r}) is not described (no '#### `{check_id}` — …').")
        elif len(seen) > 1:
            problems.append(f"{OUTCOMES}: check {check_id} is described {len(seen)} times; keep one section.")
        elif seen[0] != title:
            problems.append(f"{OUTCOMES}: check {check_id} is titled {title!r} now, the kit says {seen[0]!r}.")
    for check_id in sorted(set(headings) - set(known)):
        problems.append(f"{OUTCOMES}: describes check {check_id}, which no lab registers any more.")
    return problems


def _quote_problems(text: str, root: Path) -> list[str]:
    problems = []
    parts = _CHECK_HEADING_RE.split(text)
    # split() gives [before, id1, title1, body1, id2, title2, body2, ...]; a body ends at the next '## ' heading
    for check_id, body in zip(parts[1::3], parts[3::3], strict=True):
        body = re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0]
        tests = root / "tests" / f"test_lab{check_id[:2]}_checks.py"
        source = tests.read_text(encoding="utf-8") if tests.is_file() else ""
        # join implicitly concatenated string literals ("abc "\n    "def") as Python does
        joined = re.sub(r"([\"'])\s*\n\s*(?:f|rf|fr)?\1", "", source)
        for quote in _QUOTE_RE.findall(body):
            quote = " ".join(quote.split())  # the kit wraps long quotes over lines
            if quote not in joined:
                where = tests.relative_to(root).as_posix() if source else f"{tests.name} (missing)"
                problems.append(f"{OUTCOMES}: {check_id} quotes “{quote}”, which {where} does not assert.")
    return problems


def _agenda_problems(text: str, openings: list[LessonOpening], root: Path) -> list[str]:
    problems = []
    rows = {m.group(1): m.group(2) for m in _ROW_RE.finditer(text)}
    for opening in openings:
        rel = f"notebooks/{opening.path.name}"
        if not re.search(rf"^{re.escape(rel)}\s+\d+\.\d+", text, re.MULTILINE):
            problems.append(f"{AGENDAS}: no measured time for {rel}; run `python -m stacklab timings` and quote it.")
        if opening.number not in rows:
            problems.append(f"{AGENDAS}: the time table has no row for lesson {opening.number}.")
            continue
        cells = [c.strip() for c in rows[opening.number].split("|")]
        labs = sorted((root / "labs" / "solutions").glob(f"{opening.number}_*.ipynb"))
        for column, path in ((3, opening.path), (7, labs[0] if labs else None)):
            want = str(allowance_minutes(path)) if path is not None else "—"
            got = cells[column] if len(cells) > column else "?"
            if got != want:
                what = "lab" if column == 7 else "lesson"
                problems.append(
                    f"{AGENDAS}: lesson {opening.number}'s {what} allowance is {want} min by the rule now, the table "
                    f"says {got}: update the row (and the plans if the time used changes)."
                )
    return problems


def kit_problems(root: str | Path | None = None, checks: dict[str, list[tuple[str, str]]] | None = None) -> list[str]:
    """Every place where the instructor kit under ``root`` no longer matches the course ([] = current).

    ``checks`` (as :func:`checks_by_lesson` returns) replaces the registry, for tests.
    """
    base = Path(root) if root is not None else ROOT
    if not (base / "notebooks").is_dir():
        raise InputError(f"{base} has no notebooks/ folder; pass the course's root folder.")
    openings = lesson_openings(base)
    problems: list[str] = []
    texts = {}
    for rel in (OUTCOMES, AGENDAS):
        path = base / rel
        if not path.is_file():
            problems.append(f"{rel} is missing.")
        texts[rel] = path.read_text(encoding="utf-8") if path.is_file() else ""
    problems += _outcome_problems(texts[OUTCOMES], openings, base)
    if checks is not None and not isinstance(checks, dict):
        raise InputError(f"checks must be a dict like checks_by_lesson() returns, got {type(checks).__name__}.")
    problems += _check_problems(texts[OUTCOMES], checks_by_lesson() if checks is None else checks)
    problems += _quote_problems(texts[OUTCOMES], base)
    problems += _agenda_problems(texts[AGENDAS], openings, base)
    return problems


def _main() -> int:
    problems = kit_problems()
    for problem in problems:
        print(problem)
    print("\nmarkers for the current objectives:")
    for opening in lesson_openings():
        print(f"  {marker(opening)}")
    from stacklab.notebook_runner import course_notebooks

    print("\nallowance (minutes) by the agendas' rule:")
    for path in course_notebooks():
        print(f"  {path.relative_to(ROOT).as_posix():<55} {allowance_minutes(path):>4}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_main())
