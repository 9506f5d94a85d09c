"""The instructor kit matches the course: objectives, lab checks and measured times (stacklab.instructor_notes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacklab.errors import InputError, StackLabError
from stacklab.instructor_notes import (
    allowance_minutes,
    fingerprint,
    kit_problems,
    lesson_openings,
    marker,
    read_opening,
)

OPENING = """# 07 — Stages and canary releases

Intro text.

**Learning objectives** — after this notebook you can:
- explain deployments;
- publish versions and
  aliases;

**Prerequisites:** lesson 05.

**Time:** about 45 minutes (the cells run in a few seconds).

**Exam domains:** DVA-C02 D3.
"""
CHECKS = {"07": [("07.aliases", "Exercise 1 · Two versions, two aliases"), ("07.stages", "Exercise 2 · Stages")]}


def notebook(path: Path, opening: str = OPENING) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": opening}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def course(tmp_path: Path) -> Path:
    """A one-lesson course with a current kit."""
    nb = notebook(tmp_path / "notebooks" / "07_stages_and_canaries.ipynb")
    opening = read_opening(nb)
    (tmp_path / "instructors").mkdir()
    (tmp_path / "instructors" / "outcomes-and-mistakes.md").write_text(
        "# Outcomes\n\n## 07 — Stages and canary releases\n"
        f"{marker(opening, tmp_path)}\n\n"
        "#### `07.aliases` — Exercise 1 · Two versions, two aliases\n\ntext\n\n"
        "#### `07.stages` — Exercise 2 · Stages\n\ntext\n"
    )
    (tmp_path / "instructors" / "agendas.md").write_text(
        "| 07 | stages | 7.94 | 40 | 5 | **40** | — | — | — | — |\n\n"
        "```\nnotebooks/07_stages_and_canaries.ipynb     10.53   7.74   2.03\n```\n"
    )
    return tmp_path


def test_the_kit_matches_the_course():
    assert kit_problems() == [], "update instructors/ (python -m stacklab.instructor_notes lists what changed)"


def test_every_lesson_opening_has_objectives_and_a_time():
    for opening in lesson_openings():
        assert opening.objectives and all(opening.objectives), opening.path
        assert "minutes" in opening.time, opening.path


def test_read_opening_joins_wrapped_objectives(tmp_path):
    opening = read_opening(notebook(tmp_path / "n.ipynb"))
    assert (opening.number, opening.title) == ("07", "Stages and canary releases")
    assert opening.objectives == ("explain deployments;", "publish versions and aliases;")
    assert opening.time == "about 45 minutes (the cells run in a few seconds)."


def test_a_current_kit_has_no_problems(tmp_path):
    assert kit_problems(course(tmp_path), checks=CHECKS) == []


def test_a_changed_objective_flags_its_section(tmp_path):
    root = course(tmp_path)
    notebook(root / "notebooks" / "07_stages_and_canaries.ipynb", OPENING.replace("explain", "describe"))
    (problem,) = kit_problems(root, checks=CHECKS)
    assert "learning objectives of notebooks/07_stages_and_canaries.ipynb changed" in problem


def test_whitespace_does_not_change_the_fingerprint(tmp_path):
    a = read_opening(notebook(tmp_path / "a.ipynb"))
    b = read_opening(
        notebook(
            tmp_path / "b.ipynb", OPENING.replace("publish versions and\n  aliases", "publish versions and aliases")
        )
    )
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        (
            {"07": CHECKS["07"] + [("07.canary", "Exercise 3 · A canary")]},
            "check 07.canary ('Exercise 3 · A canary') is not described",
        ),
        ({"07": CHECKS["07"][:1]}, "describes check 07.stages, which no lab registers any more"),
        (
            {"07": [CHECKS["07"][0], ("07.stages", "Exercise 2 · Two stages")]},
            "is titled 'Exercise 2 · Two stages' now",
        ),
    ],
)
def test_check_sections_follow_the_registry(tmp_path, checks, expected):
    (problem,) = kit_problems(course(tmp_path), checks=checks)
    assert expected in problem


def test_a_new_lesson_needs_a_section_a_marker_and_a_measured_time(tmp_path):
    root = course(tmp_path)
    notebook(
        root / "notebooks" / "08_websocket_apis.ipynb",
        OPENING.replace("07 — Stages and canary releases", "08 — WebSocket APIs"),
    )
    problems = kit_problems(root, checks=CHECKS)
    assert len(problems) == 4
    assert "no heading '## 08 — WebSocket APIs'" in problems[0]
    assert "no objectives marker for notebooks/08_websocket_apis.ipynb" in problems[1]
    assert "no measured time for notebooks/08_websocket_apis.ipynb" in problems[2]
    assert "the time table has no row for lesson 08" in problems[3]


def test_a_changed_allowance_flags_the_time_table(tmp_path):
    root = course(tmp_path)
    longer = OPENING + "\n" + "word " * 1500  # 10 more minutes of reading
    notebook(root / "notebooks" / "07_stages_and_canaries.ipynb", longer)
    (tmp_path / "lab").mkdir()
    lab = _cells(tmp_path / "lab" / "07_stages_and_canaries_lab.ipynb", 150, 2, 2)
    (root / "labs" / "solutions").mkdir(parents=True)
    lab.rename(root / "labs" / "solutions" / lab.name)
    problems = [p for p in kit_problems(root, checks=CHECKS) if "agendas" in p]
    assert problems == [
        "instructors/agendas.md: lesson 07's lesson allowance is 15 min by the rule now, the table says 5: "
        "update the row (and the plans if the time used changes).",
        "instructors/agendas.md: lesson 07's lab allowance is 15 min by the rule now, the table says —: "
        "update the row (and the plans if the time used changes).",
    ]


def test_quoted_messages_must_be_asserted_by_the_lab_tests(tmp_path):
    root = course(tmp_path)
    (root / "tests").mkdir()
    (root / "tests" / "test_lab07_checks.py").write_text('assert "has no alias named" in failed("07.aliases")\n')
    kit = root / "instructors" / "outcomes-and-mistakes.md"
    text = kit.read_text().replace("\ntext\n\n", "\n- no alias → ❌ “has no alias named”\n\n", 1)
    kit.write_text(text)
    assert kit_problems(root, checks=CHECKS) == []
    kit.write_text(text + "- a guess → ❌ “something the tests never assert”\n")
    (problem,) = kit_problems(root, checks=CHECKS)
    assert "07.stages quotes “something the tests never assert”, which tests/test_lab07_checks.py" in problem


def test_a_duplicated_check_section_is_named(tmp_path):
    root = course(tmp_path)
    kit = root / "instructors" / "outcomes-and-mistakes.md"
    kit.write_text(kit.read_text() + "\n#### `07.stages` — Exercise 2 · Stages\n")
    assert kit_problems(root, checks=CHECKS) == [
        "instructors/outcomes-and-mistakes.md: check 07.stages is described 2 times; keep one section."
    ]


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a notebook file"):
        read_opening(tmp_path / "missing.ipynb")
    with pytest.raises(StackLabError, match="should be markdown starting '# NN — Title'"):
        read_opening(notebook(tmp_path / "x.ipynb", "Hello\n"))
    with pytest.raises(StackLabError, match="no bulleted 'Learning objectives'"):
        read_opening(notebook(tmp_path / "y.ipynb", "# 01 — T\n\n**Learning objectives** none\n"))
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(StackLabError, match="not a readable notebook"):
        read_opening(tmp_path / "bad.ipynb")
    with pytest.raises(InputError, match="takes a LessonOpening"):
        fingerprint("07")
    with pytest.raises(InputError, match="has no notebooks/ folder"):
        kit_problems(tmp_path / "nowhere")
    with pytest.raises(InputError, match="checks must be a dict"):
        kit_problems(course(tmp_path), checks=[])


def _cells(path: Path, words: int, given: int, exercises: int) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "word " * words}]
    cells += [{"cell_type": "code", "metadata": {}, "source": "x = 1"}] * given
    cells += [{"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": "x = 2"}] * exercises
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


@pytest.mark.parametrize(
    ("words", "given", "exercises", "minutes"),
    [
        (300, 2, 0, 5),  # lesson: 2 min reading + 2 cells = 4 → 5
        (1500, 12, 0, 25),  # 10 + 12 = 22 → 25
        (150, 2, 2, 15),  # lab: 1 + 2 × 0.5 + 2 × 5 = 12 → 15
        (900, 10, 4, 35),  # 6 + 5 + 20 = 31 → 35
    ],
)
def test_allowance_rule(tmp_path, words, given, exercises, minutes):
    assert allowance_minutes(_cells(tmp_path / "n.ipynb", words, given, exercises)) == minutes


def test_allowance_refuses_what_is_not_a_notebook(tmp_path):
    with pytest.raises(InputError, match="not a notebook file"):
        allowance_minutes(tmp_path / "n.txt")
    (tmp_path / "bad.ipynb").write_text("[]")
    with pytest.raises(StackLabError, match="not a readable notebook"):
        allowance_minutes(tmp_path / "bad.ipynb")
