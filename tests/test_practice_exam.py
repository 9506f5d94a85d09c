"""Practice exams: seeded, spread over lessons, filtered by exam/domain, timed, scored, reviewed, saved."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from stacklab import progress, sandbox
from stacklab.errors import InputError
from stacklab.exam_bank import REPO_ROOT
from stacklab.practice_exam import EXAM_ID, draw, lesson_for, practice_exam

STABLE_TOPICS = ("00", "01", "02", "03", "04", "05", "06", "07", "09")


@pytest.fixture(autouse=True)
def bank(tmp_path, monkeypatch):
    """A copy of the finished part of the bank (other lessons' files may be mid-edit)."""
    bank = tmp_path / "exam"
    bank.mkdir()
    for topic in STABLE_TOPICS:
        for f in (REPO_ROOT / "exam").glob(f"{topic}_*.yaml"):
            shutil.copy(f, bank / f.name)
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(bank))
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    return bank


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_draw_is_seeded_spread_over_lessons_and_skips_course_questions():
    a = draw(16, seed=3)
    assert [q.id for q in a] == [q.id for q in draw(16, seed=3)]
    assert [q.id for q in a] != [q.id for q in draw(16, seed=4)]
    topics = Counter(q.topic for q in a)
    assert "00" not in topics
    assert len(topics) == 8 and max(topics.values()) == 2, topics  # round-robin over the 8 lessons
    assert len({q.id for q in a}) == 16


def test_draw_filters_by_exam_domain_and_topic():
    for q in draw(10, exam="DVA-C02", seed=1):
        assert any(d.startswith("DVA-C02:") for d in q.domains)
    for q in draw(5, domains=["SAA-C03:D1"], seed=1):
        assert "SAA-C03:D1" in q.domains
    assert {q.topic for q in draw(6, topics=["05", "06"], seed=1)} == {"05", "06"}


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n": 0}, "n"),
        ({"n": 5000}, "Only"),
        ({"n": 3, "exam": "SAA-C02"}, "exam"),
        ({"n": 3, "exam": "SAA-C03", "domains": ["SAA-C03:D1"]}, "not both"),
        ({"n": 3, "domains": "SAA-C03:D1"}, "list"),
        ({"n": 3, "domains": ["COURSE:D0"]}, "Unknown exam domain"),
        ({"n": 3, "topics": ["5"]}, "Unknown lesson"),
        ({"n": 3, "minutes": 0}, "minutes"),
        ({"n": 3, "clock": "now"}, "clock"),
        ({"n": 3, "mode": "voice"}, "mode"),
    ],
)
def test_practice_exam_rejects_bad_input(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        practice_exam(**kwargs)


def test_an_exam_is_timed_scored_per_lesson_and_domain_reviewed_and_saved():
    clock = FakeClock()
    exam = practice_exam(6, exam="SAA-C03", seed=2, clock=clock, mode="text")
    assert exam.minutes == 12  # AWS's pace: 2 minutes a question
    assert "time limit 12 minutes" in exam.text()
    wrong = exam.questions[0]
    bad_choice = next(i for i in range(len(wrong.options)) if i not in wrong.answer)
    picks = [bad_choice] + [0] * (len(wrong.answer) - 1) if len(wrong.answer) > 1 else [bad_choice]
    if len(set(picks)) != len(picks):
        picks = [i for i in range(len(wrong.options)) if i not in wrong.answer][: len(wrong.answer)]
    exam.submit(wrong.id, picks)
    clock.t += 5 * 60
    for q in exam.questions[1:]:
        exam.submit(q.id, list(q.answer))
    clock.t += 60 * 60  # after the last answer the timer has stopped
    assert exam.minutes_used() == 5 and not exam.over_time()

    report = exam.report()
    text = report.text()
    assert text.startswith("Practice exam (SAA-C03): 5 of 6 correct (83%), 6 answered.")
    assert "Time used: 5 min of 12 min." in text
    assert "pass 720" in text
    assert f"[{wrong.id}]" in text and "Revisit: " + lesson_for(wrong.topic) in text
    assert sum(b.total for b in report.lessons) == 6
    assert all(b.key.startswith("SAA-C03:") or b.key.startswith("DVA-C02:") for b in report.domains)
    history = progress.exam_history()
    assert len(history) == 1 and history[0]["exam"] == EXAM_ID
    assert history[0]["correct"] == 5 and history[0]["minutes"] == 5
    assert history[0]["by_lesson"][wrong.topic][1] >= 1
    assert "Practice exams taken: 1; last: 5/6 (83%)." in progress.format_table()
    saved = json.loads(Path(progress.progress_path()).read_text())
    assert saved["quizzes"][EXAM_ID]["lesson"] == "14"


def test_over_time_and_unanswered_questions_are_reported():
    clock = FakeClock()
    exam = practice_exam(3, seed=0, minutes=2, clock=clock, mode="text")
    exam.answer(exam.questions[0].id, [chr(ord("a") + i) for i in exam.questions[0].answer])
    clock.t += 181
    text = exam.report().text()
    assert "Time used: 3 min of 2 min — over the limit" in text
    assert "2 question(s) unanswered" in text
    assert "none — well done." in text


def test_sandbox_clock_can_time_an_exam():
    import stacklab

    was_running = sandbox.is_running()
    stacklab.start()
    try:
        exam = practice_exam(2, seed=0, clock=stacklab.clock(), mode="text")
        stacklab.clock().advance(minutes=3)
        assert exam.minutes_used() == 3
    finally:
        if was_running:
            stacklab.reset()
        else:
            stacklab.stop()  # leave no sandbox (and its environment) behind for other test modules


def test_lesson_for_names_the_notebook():
    assert lesson_for("03") == "notebooks/03_cloudfront_caching.ipynb"
    with pytest.raises(InputError):
        lesson_for("3")


def test_coverage_counts_the_bank_and_a_report_without_answers_says_what_to_do():
    from stacklab.practice_exam import coverage

    table = coverage()
    assert "notebooks/03_cloudfront_caching.ipynb" in table and "00_start_here" not in table
    assert "SAA-C03 Domain 1: Design Secure Architectures" in table
    exam = practice_exam(3, seed=0, mode="text")
    assert "no answers yet" in exam.report().text()
