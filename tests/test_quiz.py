"""Tests of stacklab.quiz: selection, text rendering, answering, progress, widgets (no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacklab import progress
from stacklab.errors import InputError, StackLabError
from stacklab.exam_bank import load_questions
from stacklab.quiz import AnswerResult, Quiz, quiz

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(autouse=True)
def isolated_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "progress.json"
    monkeypatch.setenv("STACKLAB_PROGRESS", str(path))
    return path


EXPLANATION = (
    "Lambda is right because it runs code without servers; EC2 is wrong because you manage instances, and "
    "RDS is wrong because it is a database, not compute."
)


@pytest.fixture
def small_bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny bank: one single-answer and one multi-answer question for topic 05."""
    bank = tmp_path / "exam"
    bank.mkdir()
    items = [
        {
            "id": "05-001",
            "topic": "05",
            "domains": ["DVA-C02:D1"],
            "question": "Which service runs code without servers?",
            "options": ["Amazon EC2", "AWS Lambda", "Amazon RDS"],
            "answer": [1],
            "explanation": EXPLANATION,
            "reference": "https://docs.aws.amazon.com/lambda/latest/dg/welcome.html",
        },
        {
            "id": "05-002",
            "topic": "05",
            "domains": ["SAA-C03:D2", "DVA-C02:D1"],
            "question": "Which are API Gateway API types? (Choose two.)",
            "options": ["REST", "SMTP", "WebSocket", "FTP"],
            "answer": [0, 2],
            "explanation": EXPLANATION,
            "reference": "https://docs.aws.amazon.com/apigateway/latest/developerguide/welcome.html",
        },
    ]
    (bank / "05_api.yaml").write_text(yaml.safe_dump(items, sort_keys=False))
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(bank))
    return bank


# ----------------------------------------------------------------------------- selection
def test_all_questions_by_default() -> None:
    q = quiz("01", mode="text")
    assert [x.id for x in q.questions] == [x.id for x in load_questions("01")]
    assert q.mode == "text" and q.quiz_id == "quiz.01"


def test_seeded_draw_is_deterministic() -> None:
    a = quiz("01", n=5, seed=7, mode="text")
    b = quiz("01", n=5, seed=7, mode="text")
    c = quiz("01", n=5, seed=8, mode="text")
    ids = [x.id for x in a.questions]
    assert ids == [x.id for x in b.questions] and len(set(ids)) == 5
    assert ids == sorted(ids)
    assert ids != [x.id for x in c.questions]


def test_exact_ids_keep_their_order() -> None:
    q = quiz("00", ids=["00-003", "00-001"], mode="text")
    assert [x.id for x in q.questions] == ["00-003", "00-001"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"topic": "1"}, "'00' to '14'"),
        ({"topic": 1}, "topic must be a string"),
        ({"topic": "01", "mode": "html"}, "mode must be one of"),
        ({"topic": "01", "n": 0}, "n must be at least 1"),
        ({"topic": "01", "n": 500}, "pass n <= "),
        ({"topic": "01", "n": 2.5}, "n must be a whole number"),
        ({"topic": "01", "seed": "x"}, "seed must be a whole number"),
        ({"topic": "01", "n": 2, "ids": ["01-001"]}, "not both"),
        ({"topic": "01", "ids": ["01-999"]}, "Unknown question id.*01-999.*Available: 01-001"),
        ({"topic": "01", "ids": ["00-001"]}, "Unknown question id"),
        ({"topic": "01", "ids": []}, "non-empty list"),
        ({"topic": "01", "ids": "01-001"}, "non-empty list"),
        ({"topic": "01", "ids": ["01-001", "01-001"]}, "more than once"),
        ({"topic": "14"}, "no questions for topic '14'"),
    ],
)
def test_bad_quiz_arguments(kwargs: dict, match: str) -> None:
    kwargs.setdefault("mode", "text")
    with pytest.raises(InputError, match=match):
        quiz(**kwargs)


def test_invalid_bank_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "01_x.yaml").write_text("- [broken\n")
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(tmp_path))
    with pytest.raises(StackLabError, match="malformed YAML"):
        quiz("01", mode="text")


# ----------------------------------------------------------------------------- rendering
def test_text_rendering_is_stable(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    expected = "\n".join(
        [
            "Quiz — lesson 05: 2 question(s)",
            'Answer in code with q.answer("05-001", "b"), where q is this quiz object; letters or zero-based',
            "indices both work.",
            'For a "(Choose N.)" question pass a list: q.answer("05-002", ["a", "b"]).',
            'With widgets, pick your answer and press "Check answer". Your first answer counts.',
            "",
            "1. [05-001] Which service runs code without servers?",
            "   a) Amazon EC2",
            "   b) AWS Lambda",
            "   c) Amazon RDS",
            "",
            "2. [05-002] Which are API Gateway API types? (Choose two.)",
            "   a) REST",
            "   b) SMTP",
            "   c) WebSocket",
            "   d) FTP",
        ]
    )
    assert q.text() == expected
    assert repr(q) == expected and str(q) == expected
    assert quiz("05", mode="text").text() == expected


def test_real_bank_rendering_is_deterministic() -> None:
    first = quiz("01", n=4, seed=3, mode="text").text()
    assert first == quiz("01", n=4, seed=3, mode="text").text()
    assert "0x" not in first  # no object ids
    assert all(len(line) <= 100 for line in first.splitlines())


def test_text_mode_mimebundle_is_text_only(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    assert q._repr_mimebundle_() == {"text/plain": q.text()}


def test_auto_mode_outside_a_kernel_is_text(small_bank: Path) -> None:
    assert quiz("05").mode == "text"


# ----------------------------------------------------------------------------- answering
def test_answer_right(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    r = q.answer("05-001", "b")
    assert isinstance(r, AnswerResult) and r.correct
    text = repr(r)
    assert text.startswith("✅ 05-001: correct — b)")
    assert "Why: Lambda is right" in text and "Reference: https://docs.aws.amazon.com/lambda" in text
    assert "Score so far: 1 correct of 1 answered (2 questions)." in text


def test_answer_wrong_shows_right_answer(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    r = q.answer("05-001", "A")
    assert not r.correct
    assert str(r).startswith("❌ 05-001: not correct — you chose a); the answer is b)")


@pytest.mark.parametrize("choice", [["a", "c"], "a, c", "ca", "A C", [0, 2], ("c", 0)])
def test_answer_multi_accepts_letters_and_indices(small_bank: Path, choice: object) -> None:
    q = quiz("05", mode="text")
    assert q.answer("05-002", choice).correct  # type: ignore[arg-type]


def test_answer_multi_wrong(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    r = q.answer("05-002", ["a", "b"])
    assert not r.correct and "the answer is a), c)" in r.text()


def test_index_answer_for_single(small_bank: Path) -> None:
    assert quiz("05", mode="text").answer("05-001", 1).correct


@pytest.mark.parametrize(
    ("qid", "choice", "match"),
    [
        ("05-009", "a", "no question '05-009'; its questions are 05-001, 05-002"),
        ("05-001", "z", "options a–c; there is no 'z'"),
        ("05-001", "d", "options a–c; there is no 'd'"),
        ("05-001", 3, r"indices 0–2\); got index 3"),
        ("05-001", ["a", "b"], "one correct answer: choose exactly one option"),
        ("05-002", "a", r"\(Choose two.\)': select exactly 2 options"),
        ("05-002", ["a", "a"], "same option twice"),
        ("05-001", "", "the answer is empty"),
        ("05-001", "1", "is not an option letter"),
        ("05-001", None, "cannot read the answer"),
        ("05-001", True, "cannot read the answer"),
        (5, "a", "question_id must be a string"),
    ],
)
def test_bad_answers_raise_helpful_errors(small_bank: Path, qid: object, choice: object, match: str) -> None:
    q = quiz("05", mode="text")
    with pytest.raises(InputError, match=match):
        q.answer(qid, choice)  # type: ignore[arg-type]
    assert q.score["answered"] == 0


def test_submit_validates_indices(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    with pytest.raises(InputError, match="list of zero-based option indices"):
        q.submit("05-001", "b")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="option indices"):
        q.submit("05-001", ["b"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="at least one option"):
        q.submit("05-001", [])
    assert q.submit("05-001", [1]).correct


def test_first_answer_counts(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    q.answer("05-001", "a")
    retry = q.answer("05-001", "b")
    assert retry.correct and not retry.first_attempt and not retry.first_correct
    assert "Only your first answer to a question counts: it was not correct." in retry.text()
    assert q.score == {"correct": 0, "answered": 1, "total": 2}
    assert "→ answered: ❌ not correct" in q.text()


def test_progress_recorded_when_all_answered(small_bank: Path, isolated_progress: Path) -> None:
    q = quiz("05", mode="text")
    q.answer("05-001", "b")
    assert not isolated_progress.exists()
    done = q.answer("05-002", ["a", "d"])
    assert done.completed
    assert "Quiz complete: 1 of 2 correct (50%)." in done.text()
    assert "Saved to your progress" in done.text()
    entry = progress.load()["quizzes"]["quiz.05"]
    assert entry["lesson"] == "05" and entry["last"] == {"correct": 1, "total": 2}
    q.answer("05-002", ["a", "c"])  # a retry does not record again
    assert progress.load()["quizzes"]["quiz.05"]["attempts"] == 1
    q.reset()
    assert q.score["answered"] == 0
    q.answer("05-001", "b")
    q.answer("05-002", "a c")
    entry = progress.load()["quizzes"]["quiz.05"]
    assert entry["attempts"] == 2 and entry["best"] == {"correct": 2, "total": 2}


def test_progress_failure_warns_but_keeps_quiz_working(
    small_bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path))  # a directory: cannot be written
    q = quiz("05", mode="text")
    q.answer("05-001", "b")
    with pytest.warns(RuntimeWarning, match="could not be saved"):
        r = q.answer("05-002", ["a", "c"])
    assert r.correct and "could not be saved" in r.text()


def test_domain_scores(small_bank: Path) -> None:
    q = quiz("05", mode="text")
    q.answer("05-001", "b")
    q.answer("05-002", ["a", "b"])
    assert q.domain_scores() == {
        "DVA-C02:D1": {"correct": 1, "answered": 2, "total": 2},
        "SAA-C03:D2": {"correct": 0, "answered": 1, "total": 1},
    }


# ------------------------------------------------------------------------------- widgets
def test_widget_construction(small_bank: Path) -> None:
    import ipywidgets as w

    q = quiz("05", mode="widget")
    assert isinstance(q, Quiz) and q.mode == "widget"
    box = q.widget
    assert isinstance(box, w.VBox)
    single, multi = q._controls["05-001"], q._controls["05-002"]
    assert isinstance(single["selector"], w.RadioButtons) and single["selector"].value is None
    assert [label for label, _ in single["selector"].options] == ["a) Amazon EC2", "b) AWS Lambda", "c) Amazon RDS"]
    assert len(multi["checks"]) == 4 and all(isinstance(c, w.Checkbox) for c in multi["checks"])
    assert isinstance(single["button"], w.Button) and single["feedback"].value == ""
    bundle = q._repr_mimebundle_()
    assert bundle["text/plain"] == q.text()
    assert bundle[WIDGET_VIEW]["model_id"] == box.model_id


def test_button_callback_updates_feedback_and_score(small_bank: Path, isolated_progress: Path) -> None:
    q = quiz("05", mode="widget")
    assert q.widget is not None
    single = q._controls["05-001"]
    single["button"].click()  # nothing selected yet
    assert "⚠️" in single["feedback"].value and q.score["answered"] == 0
    single["selector"].value = 0
    single["button"].click()
    assert "❌ Not correct" in single["feedback"].value and "the answer is b)" in single["feedback"].value
    assert "Lambda is right" in single["feedback"].value
    assert "0 correct of 1 answered" in q._score_html.value
    multi = q._controls["05-002"]
    multi["checks"][0].value = True
    assert q.check("05-002") is None and "select exactly 2 options" in multi["feedback"].value
    multi["checks"][2].value = True
    result = q.check("05-002")
    assert result is not None and result.correct and "✅ Correct" in multi["feedback"].value
    assert "Quiz complete: 1 of 2 correct (50%)." in q._score_html.value
    assert progress.load()["quizzes"]["quiz.05"]["best"] == {"correct": 1, "total": 2}


def test_code_answers_show_in_widget(small_bank: Path) -> None:
    q = quiz("05", mode="widget")
    q.answer("05-001", "b")  # before the widget exists
    assert q.widget is not None
    assert q._controls["05-001"]["selector"].value == 1
    assert "✅ Correct" in q._controls["05-001"]["feedback"].value
    q.answer("05-002", ["a", "c"])  # after
    assert [c.value for c in q._controls["05-002"]["checks"]] == [True, False, True, False]
    q.reset()
    assert q._controls["05-001"]["selector"].value is None and q._controls["05-001"]["feedback"].value == ""


def test_widget_html_is_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    item = {
        "id": "06-001",
        "topic": "06",
        "domains": ["DVA-C02:D2"],
        "question": "Which header carries <script>alert(1)</script> tokens?",
        "options": ["Authorization", "X-Api-Key"],
        "answer": [0],
        "explanation": EXPLANATION,
        "reference": "https://docs.aws.amazon.com/apigateway/latest/developerguide/welcome.html",
    }
    (tmp_path / "06_security.yaml").write_text(yaml.safe_dump([item]))
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(tmp_path))
    q = quiz("06", mode="widget")
    assert q.widget is not None
    html_values = [child.value for box in q.widget.children[1:-1] for child in box.children[:1]]
    assert "<script>" not in html_values[0] and "&lt;script&gt;" in html_values[0]
