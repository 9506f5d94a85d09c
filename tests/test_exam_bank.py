"""Tests of the question bank: the real bank validates clean; each kind of mistake is reported."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacklab import exam_bank
from stacklab.errors import InputError, StackLabError

EXPLANATION = (
    "The right option is right because it does exactly what the scenario needs, and each other "
    "option is wrong for a reason the learner can name: it costs more, fails over slower, or breaks a rule."
)


def question(**over: Any) -> dict[str, Any]:
    q = {
        "id": "01-001",
        "topic": "01",
        "domains": ["SAA-C03:D2"],
        "question": "Which option is right?",
        "options": ["First", "Second", "Third", "Fourth"],
        "answer": [1],
        "explanation": EXPLANATION,
        "reference": "https://docs.aws.amazon.com/lambda/latest/dg/welcome.html",
    }
    q.update(over)
    return q


def write(bank: Path, name: str, items: Any) -> Path:
    bank.mkdir(parents=True, exist_ok=True)
    path = bank / name
    path.write_text(items if isinstance(items, str) else yaml.safe_dump(items, sort_keys=False))
    return path


def problems_for(tmp_path: Path, *items: dict[str, Any], name: str = "01_topic.yaml") -> list[str]:
    bank = tmp_path / "exam"
    write(bank, name, list(items))
    return exam_bank.validate_bank(bank)


def only(problems: list[str], fragment: str) -> str:
    hits = [p for p in problems if fragment in p]
    assert hits, f"no problem mentions {fragment!r}: {problems}"
    return hits[0]


# ------------------------------------------------------------------------------ the real bank
def test_real_bank_is_valid() -> None:
    assert exam_bank.validate_bank() == []


def test_real_bank_size_and_mix() -> None:
    by_topic = collections.Counter(q.topic for q in exam_bank.load_questions())
    assert by_topic["00"] >= 6 and by_topic["01"] >= 12
    qs = exam_bank.load_questions("01")
    assert any(q.multiple for q in qs) and any(not q.multiple for q in qs)
    singles = collections.Counter(q.answer[0] for q in exam_bank.load_questions() if not q.multiple)
    assert len(singles) >= 3, "correct answers should not sit in one position"
    assert max(singles.values()) <= 0.5 * sum(singles.values())


def test_bank_reaches_exam_practice_size_with_every_lesson_covered() -> None:
    """Issue 7: at least 200 questions, at least 12 for each lesson 01-13 that exists, both question kinds."""
    questions = exam_bank.load_questions()
    assert len(questions) >= 200, f"the bank has {len(questions)} questions; exam practice needs at least 200"
    lessons = sorted(p.name[:2] for p in (exam_bank.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for topic in [t for t in lessons if "01" <= t <= "13"]:
        mine = [q for q in questions if q.topic == topic]
        assert len(mine) >= 12, f"lesson {topic} has {len(mine)} questions; it needs at least 12"
        assert any(q.multiple for q in mine) and any(not q.multiple for q in mine), f"lesson {topic}: mix kinds"


def test_answer_positions_are_balanced_across_the_bank() -> None:
    """No position (a, b, c, d) holds much more or less than its share of single-answer questions."""
    fours = [q.answer[0] for q in exam_bank.load_questions() if not q.multiple and len(q.options) == 4]
    shares = collections.Counter(fours)
    for position in range(4):
        share = shares[position] / len(fours)
        assert 0.15 <= share <= 0.35, f"{'abcd'[position]}) is the answer of {share:.0%} of 4-option questions"


def test_real_bank_keeps_the_facts_the_course_teaches() -> None:
    text = " ".join(q.question + " ".join(q.options) + q.explanation for q in exam_bank.load_questions())
    assert "900 seconds" in text and "10,240 MB" in text and "29 seconds" in text
    for typo in ("hoisting", "Avalibility", "ElasticCache", "CloundFront", "Hight avalibility", "serivces"):
        assert typo not in text


def test_load_questions_filters_and_sorts() -> None:
    qs = exam_bank.load_questions("00")
    assert qs and all(q.topic == "00" for q in qs)
    assert [q.id for q in qs] == sorted(q.id for q in qs)
    q = qs[0]
    with pytest.raises(AttributeError):
        q.id = "x"  # type: ignore[misc]  # frozen
    assert isinstance(q.options, tuple) and isinstance(q.answer, tuple)


@pytest.mark.parametrize("topic", ["1", "15", "ab"])
def test_load_questions_rejects_bad_topic(topic: str) -> None:
    with pytest.raises(InputError, match="'00' to '14'"):
        exam_bank.load_questions(topic)


def test_load_questions_rejects_non_string_topic() -> None:
    with pytest.raises(InputError, match="topic must be a string"):
        exam_bank.load_questions(1)  # type: ignore[arg-type]


def test_exam_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert exam_bank.exam_dir() == exam_bank.REPO_ROOT / "exam"
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(tmp_path / "bank"))
    assert exam_bank.exam_dir() == tmp_path / "bank"


def test_load_questions_from_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "bank", "03_cdn.yaml", [question(id="03-001", topic="03")])
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(tmp_path / "bank"))
    qs = exam_bank.load_questions()
    assert [q.id for q in qs] == ["03-001"] and qs[0].source == "03_cdn.yaml"


def test_load_questions_raises_listing_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [question(answer=[9]), question(id="01-002", question="Other?", domains=["X"])]
    write(tmp_path / "bank", "01_x.yaml", bad)
    monkeypatch.setenv("STACKLAB_EXAM_DIR", str(tmp_path / "bank"))
    with pytest.raises(StackLabError) as info:
        exam_bank.load_questions()
    message = str(info.value)
    assert "2 problem(s)" in message and "out of range" in message and "unknown domain tag" in message


# ------------------------------------------------------------------------- crafted bad banks
def test_valid_crafted_bank_has_no_problems(tmp_path: Path) -> None:
    assert problems_for(tmp_path, question(), question(id="01-002", question="Another question?")) == []


def test_malformed_yaml(tmp_path: Path) -> None:
    write(tmp_path / "exam", "01_x.yaml", "- id: '01-001'\n  options: [a, b\n")
    problem = only(exam_bank.validate_bank(tmp_path / "exam"), "malformed YAML")
    assert "01_x.yaml" in problem and "line" in problem


def test_top_level_not_a_list_and_empty_file(tmp_path: Path) -> None:
    bank = tmp_path / "exam"
    write(bank, "01_x.yaml", {"id": "01-001"})
    write(bank, "02_y.yaml", "")
    problems = exam_bank.validate_bank(bank)
    assert "top level must be a YAML list" in only(problems, "01_x.yaml")
    assert "is empty" in only(problems, "02_y.yaml")


def test_item_not_a_mapping(tmp_path: Path) -> None:
    only(problems_for(tmp_path, "just text"), "must be a mapping")  # type: ignore[arg-type]


def test_missing_and_extra_keys(tmp_path: Path) -> None:
    q = question(hint="extra")
    del q["reference"]
    problems = problems_for(tmp_path, q)
    assert "reference" in only(problems, "missing key")
    assert "hint" in only(problems, "unknown key")


def test_wrong_types(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, question(topic=1, options="First, Second", answer="1", domains="SAA-C03:D2"))
    assert "quote it" in only(problems, "topic must be a non-empty string")
    only(problems, "options must be a list")
    only(problems, "answer must be a list of zero-based option indices")
    only(problems, "domains must be a non-empty list")


def test_yaml_booleans_in_options_are_caught(tmp_path: Path) -> None:
    write(tmp_path / "exam", "01_x.yaml", yaml.safe_dump([question()]).replace("- First", "- yes"))
    only(exam_bank.validate_bank(tmp_path / "exam"), "options must be a list of non-empty strings")


def test_id_format_and_prefix_mismatches(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        question(id="1-1"),
        question(id="02-002", question="Q2?"),
        question(id="01-003", topic="02", question="Q3?"),
    )
    only(problems, "must look like 'NN-NNN'")
    assert "has prefix '02' but topic is '01'" in only(problems, "(02-002)")
    only(problems, "does not match the file's prefix '01'")
    only(problems, "topic '02' does not match the file's prefix")


def test_bad_file_name(tmp_path: Path) -> None:
    only(problems_for(tmp_path, question(), name="serverless.yaml"), "file name must be NN_topic.yaml")


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    bank = tmp_path / "exam"
    write(bank, "01_a.yaml", [question()])
    write(bank, "01_b.yaml", [question(question="A different stem?")])
    problem = only(exam_bank.validate_bank(bank), "duplicate id '01-001'")
    assert "01_a.yaml" in problem and "01_b.yaml" in problem


def test_duplicate_stems_normalised_across_bank(tmp_path: Path) -> None:
    bank = tmp_path / "exam"
    write(bank, "01_a.yaml", [question(question="Which option   is RIGHT?")])
    write(bank, "02_b.yaml", [question(id="02-001", topic="02", question="which option is right?\n")])
    only(exam_bank.validate_bank(bank), "duplicate question text")


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ([4], "answer index 4 is out of range for 4 options (use 0..3)"),
        ([-1], "answer index -1 is out of range"),
        ([1, 1], "lists an index more than once"),
        ([], "answer is empty"),
        ([0, 1, 2, 3], "every option is marked correct"),
        ([True], "answer must be a list of zero-based option indices"),
    ],
)
def test_answer_problems(tmp_path: Path, answer: list, fragment: str) -> None:
    stem = "Which options? (Choose four.)" if len(answer) == 4 else "Which option is right?"
    only(problems_for(tmp_path, question(answer=answer, question=stem)), fragment)


def test_option_count_and_duplicates(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        question(options=["Only one"], answer=[0]),
        question(id="01-002", question="Q2?", options=[f"o{i}" for i in range(7)], answer=[0]),
        question(id="01-003", question="Q3?", options=["Same", "same ", "Other"], answer=[2]),
    )
    assert "has 1 option(s)" in only(problems, "(01-001)")
    assert "has 7 option(s)" in only(problems, "(01-002)")
    assert "options 0 and 1 are duplicates" in only(problems, "(01-003)")


def test_choose_n_rules(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        question(answer=[0, 2], question="Which two?"),
        question(id="01-002", answer=[0, 2], question="Which ones? (Choose three.)"),
        question(id="01-003", answer=[1], question="Which one? (Choose two.)"),
        question(id="01-004", answer=[0, 1, 3], question="Which three? (Choose three.)"),
    )
    assert "must say '(Choose two.)'" in only(problems, "(01-001)")
    assert "says '(Choose three.)' but has 2 correct answers" in only(problems, "(01-002)")
    assert "has a single correct answer" in only(problems, "(01-003)")
    assert not [p for p in problems if "(01-004)" in p]


def test_domain_tags(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        question(domains=["SAA-C03:D5"]),
        question(id="01-002", question="Q2?", domains=["COURSE:D0"]),
        question(id="01-003", question="Q3?", domains=["DVA-C02:D1", "DVA-C02:D1"]),
        question(id="01-004", question="Q4?", domains=[]),
    )
    assert "unknown domain tag 'SAA-C03:D5'" in only(problems, "(01-001)")
    assert "only for topic '00'" in only(problems, "(01-002)")
    assert "more than once" in only(problems, "(01-003)")
    only(problems, "domains must be a non-empty list")


def test_course_domain_allowed_in_topic_00(tmp_path: Path) -> None:
    q = question(id="00-001", topic="00", domains=["COURSE:D0"])
    assert problems_for(tmp_path, q, name="00_start_here.yaml") == []


def test_thin_explanation(tmp_path: Path) -> None:
    problem = only(problems_for(tmp_path, question(explanation="Because it is.")), "explanation is thin")
    assert "minimum 120" in problem and "each other option is wrong" in problem


@pytest.mark.parametrize(
    "reference",
    ["see the docs", "http://docs.aws.amazon.com/x", "notebooks/99_missing.ipynb", "/etc/passwd", "../secret"],
)
def test_bad_references(tmp_path: Path, reference: str) -> None:
    only(problems_for(tmp_path, question(reference=reference)), "is neither an https:// URL nor an existing")


def test_existing_repo_path_reference_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_serverless_vs_three_tier.ipynb").write_text("{}")
    q = question(reference="notebooks/01_serverless_vs_three_tier.ipynb")
    assert problems_for(tmp_path, q) == []


def test_validate_single_file_and_missing_path(tmp_path: Path) -> None:
    path = write(tmp_path / "exam", "01_x.yaml", [question(answer=[7])])
    only(exam_bank.validate_bank(path), "out of range")
    only(exam_bank.validate_bank(tmp_path / "nope"), "no such file or directory")
    with pytest.raises(InputError, match="path must be"):
        exam_bank.validate_bank(42)  # type: ignore[arg-type]


def test_every_problem_names_its_file_and_question(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, question(answer=[9], explanation="short"))
    assert problems and all(p.startswith("01_topic.yaml question 1 (01-001): ") for p in problems)
