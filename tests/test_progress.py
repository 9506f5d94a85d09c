"""Tests of stacklab.progress: file location, atomic writes, corruption handling, summaries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stacklab import progress
from stacklab.errors import InputError, StackLabError


@pytest.fixture
def pfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "progress.json"
    monkeypatch.setenv("STACKLAB_PROGRESS", str(path))
    return path


def test_default_path_is_in_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STACKLAB_PROGRESS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert progress.progress_path() == Path.home() / ".stacklab" / "progress.json"


def test_env_var_overrides_path(pfile: Path) -> None:
    assert progress.progress_path() == pfile
    progress.record_check("01.layers", "01", True)
    assert pfile.exists()
    doc = json.loads(pfile.read_text())
    assert doc["version"] == 1 and "01.layers" in doc["checks"]


def test_load_missing_file_gives_fresh_document(pfile: Path) -> None:
    assert progress.load() == {"version": 1, "checks": {}, "quizzes": {}}
    assert not pfile.exists()


def test_atomic_write_leaves_no_temp_files(pfile: Path) -> None:
    for i in range(5):
        progress.record_check(f"01.c{i}", "01", i % 2 == 0, detail=f"run {i}")
    progress.record_quiz("quiz.01", "01", 3, 5)
    assert sorted(p.name for p in pfile.parent.iterdir()) == ["progress.json"]
    json.loads(pfile.read_text())  # complete, valid JSON


def test_failed_write_keeps_old_file_and_removes_temp(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    progress.record_check("01.a", "01", True)
    before = pfile.read_text()

    def boom(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(progress.os, "replace", boom)
    with pytest.raises(StackLabError, match="disk full"):
        progress.record_check("01.b", "01", True)
    assert pfile.read_text() == before
    assert sorted(p.name for p in pfile.parent.iterdir()) == ["progress.json"]


def test_pass_is_never_overwritten_by_later_fail(pfile: Path) -> None:
    progress.record_check("02.website", "02", False, detail="no index document")
    progress.record_check("02.website", "02", True)
    progress.record_check("02.website", "02", False, detail="bucket policy removed")
    entry = progress.load()["checks"]["02.website"]
    assert entry["passed"] is True and entry["passed_ever"] is True
    assert entry["last_result"] == "fail"
    assert entry["attempts"] == 3
    assert entry["detail"] == "bucket policy removed"
    assert entry["first_passed_at"] is not None and entry["first_passed_at"].endswith("Z")
    assert entry["last_at"] >= entry["first_passed_at"]


def test_first_passed_at_stays_fixed(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 2, 9, 30, tzinfo=UTC)])
    monkeypatch.setattr(progress, "_now", lambda: next(times))
    progress.record_check("03.ttl", "03", True)
    progress.record_check("03.ttl", "03", True)
    entry = progress.load()["checks"]["03.ttl"]
    assert entry["first_passed_at"] == "2026-01-01T10:00:00Z"
    assert entry["last_at"] == "2026-01-02T09:30:00Z"


def test_quiz_keeps_best_and_last(pfile: Path) -> None:
    progress.record_quiz("quiz.01", "01", 4, 10)
    progress.record_quiz("quiz.01", "01", 9, 10)
    progress.record_quiz("quiz.01", "01", 2, 10)
    entry = progress.load()["quizzes"]["quiz.01"]
    assert entry["best"] == {"correct": 9, "total": 10}
    assert entry["last"] == {"correct": 2, "total": 10}
    assert entry["attempts"] == 3


def test_corrupt_file_is_moved_aside_with_warning(pfile: Path) -> None:
    pfile.parent.mkdir(parents=True)
    pfile.write_text("{not json")
    with pytest.warns(RuntimeWarning) as caught:
        doc = progress.load()
    assert doc == {"version": 1, "checks": {}, "quizzes": {}}
    aside = [p for p in pfile.parent.iterdir() if p.name.startswith("progress.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    message = str(caught[0].message)
    assert str(pfile) in message and str(aside[0]) in message
    progress.record_check("01.a", "01", True)  # a fresh document is started
    assert list(progress.load()["checks"]) == ["01.a"]
    assert aside[0].exists()


def test_wrong_structure_is_treated_as_corrupt(pfile: Path) -> None:
    pfile.parent.mkdir(parents=True)
    pfile.write_text(json.dumps({"version": 7, "checks": {}, "quizzes": {}}))
    with pytest.warns(RuntimeWarning, match="version"):
        assert progress.load()["version"] == 1
    assert any(p.name.startswith("progress.json.corrupt-") for p in pfile.parent.iterdir())


def test_two_corrupt_files_get_distinct_backups(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_now", lambda: datetime(2026, 3, 1, tzinfo=UTC))
    pfile.parent.mkdir(parents=True)
    for text in ("[1", "[2"):
        pfile.write_text(text)
        with pytest.warns(RuntimeWarning):
            progress.load()
    aside = sorted(p.read_text() for p in pfile.parent.iterdir() if ".corrupt-" in p.name)
    assert aside == ["[1", "[2"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"check_id": "", "lesson": "01", "passed": True}, "check_id must not be empty"),
        ({"check_id": 5, "lesson": "01", "passed": True}, "check_id must be a string"),
        ({"check_id": "x", "lesson": "1", "passed": True}, "two-digit lesson number"),
        ({"check_id": "x", "lesson": "15", "passed": True}, "'00' to '14'"),
        ({"check_id": "x", "lesson": 1, "passed": True}, "lesson must be a string"),
        ({"check_id": "x", "lesson": "01", "passed": "yes"}, "passed must be True or False"),
        ({"check_id": "x", "lesson": "01", "passed": True, "detail": None}, "detail must be a string"),
    ],
)
def test_record_check_rejects_bad_input(pfile: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        progress.record_check(**kwargs)
    assert not pfile.exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("quiz.01", "01", 6, 5), r"correct \(6\) cannot be more than total \(5\)"),
        (("quiz.01", "01", -1, 5), "correct must be at least 0"),
        (("quiz.01", "01", 1, 0), "total must be at least 1"),
        (("quiz.01", "01", 1.5, 5), "correct must be a whole number"),
        (("quiz.01", "01", True, 5), "correct must be a whole number"),
        (("quiz.01", "ab", 1, 5), "two-digit lesson number"),
    ],
)
def test_record_quiz_rejects_bad_input(pfile: Path, args: tuple, match: str) -> None:
    with pytest.raises(InputError, match=match):
        progress.record_quiz(*args)


def test_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        progress.record_check("x", "99", True)


def test_lesson_summary_rows(pfile: Path) -> None:
    progress.record_check("02.a", "02", True)
    progress.record_check("02.b", "02", False)
    progress.record_check("01.a", "01", True)
    progress.record_quiz("quiz.02", "02", 3, 4)
    progress.record_quiz("quiz.02", "02", 1, 4)
    rows = progress.lesson_summary()
    assert [r["lesson"] for r in rows] == ["01", "02"]
    two = rows[1]
    assert two["checks_passed"] == 1 and two["checks_total_attempted"] == 2
    assert two["quiz_best_correct"] == 3 and two["quiz_best_total"] == 4
    assert rows[0]["quiz_best_correct"] is None


def test_format_table_empty_says_how_to_start(pfile: Path) -> None:
    text = progress.format_table()
    assert "No progress recorded yet" in text
    assert "00_start_here" in text
    assert str(pfile) in text


def test_format_table_rows(pfile: Path) -> None:
    progress.record_check("01.layers", "01", True)
    progress.record_check("01.costs", "01", False)
    progress.record_quiz("quiz.01", "01", 7, 10)
    progress.record_quiz("quiz.03", "03", 2, 3)
    lines = progress.format_table().splitlines()
    assert lines[0].split() == ["Lesson", "Checks", "passed", "Quiz", "best"]
    assert lines[2].split() == ["01", "1/2", "7/10", "(70%)"]
    assert lines[3].split() == ["03", "-", "2/3", "(67%)"]
    assert lines[-1] == f"Progress file: {pfile}"


def test_reset_requires_confirm_and_moves_file_aside(pfile: Path) -> None:
    progress.record_check("01.a", "01", True)
    with pytest.raises(InputError, match="confirm=True"):
        progress.reset_progress()
    assert pfile.exists()
    backup = progress.reset_progress(confirm=True)
    assert backup is not None and backup.exists() and not pfile.exists()
    assert backup.parent == pfile.parent and ".bak-" in backup.name
    assert "01.a" in json.loads(backup.read_text())["checks"]
    assert progress.load()["checks"] == {}
    assert progress.reset_progress(confirm=True) is None  # nothing to move
    with pytest.raises(InputError, match="confirm must be True or False"):
        progress.reset_progress(confirm="yes")  # type: ignore[arg-type]


def test_directory_as_progress_path_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path))
    with pytest.raises(StackLabError, match="is a directory"):
        progress.load()


def test_concurrent_records_in_threads_are_all_kept(pfile: Path) -> None:
    def work(n: int) -> None:
        for i in range(10):
            progress.record_check(f"05.t{n}.{i}", "05", True)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(progress.load()["checks"]) == 40


def test_format_table_for_one_lesson(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "p.json"))
    progress.record_check("00.first_bucket", "00", True)
    progress.record_check("01.vpc", "01", False)
    table = progress.format_table("00")
    assert "\n00 " in table and "\n01 " not in table
    assert "No progress recorded yet for lesson 02" in progress.format_table("02")
    with pytest.raises(InputError):
        progress.format_table("2")


def test_practice_exams_are_kept_in_order_and_capped(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MAX_EXAMS", 3)
    for correct in range(5):
        progress.record_exam("exam.practice", correct=correct, total=4 + correct, minutes=7,
                             by_domain={"SAA-C03:D1": [correct, 4 + correct]}, by_lesson={"03": [0, 1]})
    history = progress.exam_history()
    assert [e["correct"] for e in history] == [2, 3, 4]
    assert history[-1]["by_domain"] == {"SAA-C03:D1": [4, 8]}


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"correct": 5, "total": 4}, "cannot be more"),
        ({"minutes": -1}, "minutes"),
        ({"by_domain": {"SAA-C03:D1": [3, 2]}}, "by_domain"),
        ({"by_lesson": {"03": "2/3"}}, "by_lesson"),
    ],
)
def test_record_exam_rejects_bad_input(pfile: Path, kwargs: dict, fragment: str) -> None:
    args = {"correct": 1, "total": 2, "minutes": 1, "by_domain": {}, "by_lesson": {}} | kwargs
    with pytest.raises(InputError, match=fragment):
        progress.record_exam("exam.practice", **args)
    assert not pfile.exists()


def test_a_file_with_a_broken_exams_list_is_set_aside(pfile: Path) -> None:
    pfile.parent.mkdir(parents=True, exist_ok=True)
    pfile.write_text(json.dumps({"version": 1, "checks": {}, "quizzes": {}, "exams": {"x": 1}}))
    with pytest.warns(RuntimeWarning, match="exams"):
        assert progress.exam_history() == []
