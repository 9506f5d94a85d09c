"""The question bank: YAML files ``exam/NN_topic.yaml``, their loader and their validator.

Each file is a YAML list of questions with exactly these keys::

    id: "01-003"                 # topic prefix + three digits; the prefix matches the file's NN
    topic: "01"                  # quoted: YAML reads 01 as a number
    domains: [SAA-C03:D2, DVA-C02:D1]
    question: "... (Choose two.)"  # multi-answer questions say how many to choose
    options: [..., ...]          # 2-6 distinct strings, shown in this order
    answer: [1, 3]               # zero-based indices into options
    explanation: "..."           # why the answer is right and why each other option is wrong
    reference: "https://docs.aws.amazon.com/..."   # or a repo path, e.g. notebooks/01_....ipynb
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError

ENV_VAR = "STACKLAB_EXAM_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
TOPICS = tuple(f"{n:02d}" for n in range(15))
KEYS = ("id", "topic", "domains", "question", "options", "answer", "explanation", "reference")
DOMAINS: dict[str, str] = {
    "SAA-C03:D1": "SAA-C03 Domain 1: Design Secure Architectures",
    "SAA-C03:D2": "SAA-C03 Domain 2: Design Resilient Architectures",
    "SAA-C03:D3": "SAA-C03 Domain 3: Design High-Performing Architectures",
    "SAA-C03:D4": "SAA-C03 Domain 4: Design Cost-Optimized Architectures",
    "DVA-C02:D1": "DVA-C02 Domain 1: Development with AWS Services",
    "DVA-C02:D2": "DVA-C02 Domain 2: Security",
    "DVA-C02:D3": "DVA-C02 Domain 3: Deployment",
    "DVA-C02:D4": "DVA-C02 Domain 4: Troubleshooting and Optimization",
    "COURSE:D0": "About the course and its sandbox (topic 00 only)",
}
MIN_EXPLANATION = 120
MIN_OPTIONS, MAX_OPTIONS = 2, 6
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
_FILE_RE = re.compile(r"(\d{2})_[a-z0-9_]+\.yaml")
_ID_RE = re.compile(r"(\d{2})-(\d{3})")
_CHOOSE_RE = re.compile(r"\(choose (\w+)\.?\)", re.IGNORECASE)


@dataclass(frozen=True)
class Question:
    """One exam-style question. ``answer`` holds zero-based indices into ``options``."""

    id: str
    topic: str
    domains: tuple[str, ...]
    question: str
    options: tuple[str, ...]
    answer: tuple[int, ...]
    explanation: str
    reference: str
    source: str = field(default="", compare=False)

    @property
    def multiple(self) -> bool:
        """True for a "(Choose N.)" question with several right options."""
        return len(self.answer) > 1


def exam_dir() -> Path:
    """Return the question bank directory: ``$STACKLAB_EXAM_DIR`` if set, else the repository's ``exam/``."""
    override = os.environ.get(ENV_VAR, "").strip()
    return Path(override).expanduser() if override else REPO_ROOT / "exam"


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _is_reference_ok(ref: str, bank: Path) -> bool:
    parsed = urlparse(ref)
    if parsed.scheme in ("http", "https"):
        return parsed.scheme == "https" and bool(parsed.netloc) and " " not in ref
    if parsed.scheme or ref.startswith("/") or ".." in Path(ref).parts:
        return False
    return any((root / ref).exists() for root in (bank.parent, REPO_ROOT))


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _check_question(item: Any, where: str, file_topic: str | None, bank: Path) -> list[str]:
    """Problems of one question mapping (those that can be seen without the rest of the bank)."""
    if not isinstance(item, dict):
        return [f"{where}: must be a mapping with keys {', '.join(KEYS)}, got {_type_name(item)}."]
    problems: list[str] = []
    missing = [k for k in KEYS if k not in item]
    extra = sorted(str(k) for k in item if k not in KEYS)
    if missing:
        problems.append(f"{where}: missing key(s) {', '.join(missing)}; every question needs all of {', '.join(KEYS)}.")
    if extra:
        problems.append(f"{where}: unknown key(s) {', '.join(extra)}; allowed keys are {', '.join(KEYS)}.")

    def text(key: str) -> str | None:
        value = item.get(key)
        if key not in item:
            return None
        if not isinstance(value, str) or not value.strip():
            hint = " (quote it: YAML reads 01 as a number)" if key in ("id", "topic") and isinstance(value, int) else ""
            problems.append(f"{where}: {key} must be a non-empty string, got {_type_name(value)} {value!r}{hint}.")
            return None
        return value

    qid, topic, stem = text("id"), text("topic"), text("question")
    explanation, reference = text("explanation"), text("reference")

    if topic is not None and topic not in TOPICS:
        problems.append(f"{where}: topic {topic!r} is not a lesson number; use '00' to '14'.")
    if topic is not None and file_topic is not None and topic != file_topic:
        problems.append(f"{where}: topic {topic!r} does not match the file's prefix {file_topic!r}.")
    if qid is not None:
        m = _ID_RE.fullmatch(qid)
        if not m:
            problems.append(f"{where}: id {qid!r} must look like 'NN-NNN', e.g. '01-003'.")
        else:
            if topic is not None and m.group(1) != topic:
                problems.append(f"{where}: id {qid!r} has prefix {m.group(1)!r} but topic is {topic!r}.")
            if file_topic is not None and m.group(1) != file_topic:
                problems.append(f"{where}: id {qid!r} does not match the file's prefix {file_topic!r}.")

    domains = item.get("domains")
    if "domains" in item:
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            problems.append(f"{where}: domains must be a non-empty list of tags such as 'SAA-C03:D2'.")
        else:
            for d in domains:
                if d not in DOMAINS:
                    problems.append(f"{where}: unknown domain tag {d!r}; use one of {', '.join(DOMAINS)}.")
                elif d == "COURSE:D0" and topic is not None and topic != "00":
                    problems.append(f"{where}: domain tag 'COURSE:D0' is only for topic '00' questions.")
            if len(set(domains)) != len(domains):
                problems.append(f"{where}: domains lists a tag more than once.")

    options = item.get("options")
    n_options: int | None = None
    if "options" in item:
        if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
            problems.append(f"{where}: options must be a list of non-empty strings (quote Yes/No/numbers in YAML).")
        elif not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            problems.append(f"{where}: has {len(options)} option(s); give between {MIN_OPTIONS} and {MAX_OPTIONS}.")
        else:
            n_options = len(options)
            seen: dict[str, int] = {}
            for i, o in enumerate(options):
                if _norm(o) in seen:
                    problems.append(
                        f"{where}: options {seen[_norm(o)]} and {i} are duplicates ({o!r}); make each option distinct."
                    )
                seen.setdefault(_norm(o), i)

    answer = item.get("answer")
    n_answers: int | None = None
    if "answer" in item:
        if not isinstance(answer, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in answer):
            problems.append(
                f"{where}: answer must be a list of zero-based option indices, e.g. [1] or [0, 3]; got {answer!r}."
            )
        elif not answer:
            problems.append(f"{where}: answer is empty; list the index of at least one correct option.")
        else:
            n_answers = len(answer)
            if len(set(answer)) != len(answer):
                problems.append(f"{where}: answer {answer!r} lists an index more than once.")
            if n_options is not None:
                bad = [a for a in answer if not 0 <= a < n_options]
                if bad:
                    problems.append(
                        f"{where}: answer index {bad[0]} is out of range for {n_options} options "
                        f"(use 0..{n_options - 1})."
                    )
                elif len(set(answer)) >= n_options:
                    problems.append(f"{where}: every option is marked correct; at least one must be wrong.")

    if stem is not None and n_answers is not None:
        said = _CHOOSE_RE.findall(stem)
        if n_answers > 1:
            word = _NUMBER_WORDS.get(n_answers, str(n_answers))
            if not said:
                problems.append(
                    f"{where}: has {n_answers} correct answers, so the question must say '(Choose {word}.)'."
                )
            elif said[-1].lower() not in (word, str(n_answers)):
                problems.append(
                    f"{where}: says '(Choose {said[-1]}.)' but has {n_answers} correct answers; say '(Choose {word}.)'."
                )
        elif said:
            problems.append(
                f"{where}: says '(Choose {said[-1]}.)' but has a single correct answer; remove it or add answers."
            )

    if explanation is not None and len(explanation.strip()) < MIN_EXPLANATION:
        problems.append(
            f"{where}: explanation is thin ({len(explanation.strip())} characters, minimum {MIN_EXPLANATION}); "
            "say why the answer is right and why each other option is wrong."
        )
    if reference is not None and not _is_reference_ok(reference.strip(), bank):
        problems.append(
            f"{where}: reference {reference!r} is neither an https:// URL nor an existing repository path "
            "(e.g. notebooks/01_serverless_vs_three_tier.ipynb)."
        )
    return problems


def _scan(path: Path | None) -> tuple[list[Question], list[str]]:
    """Parse and check the bank at ``path`` (a directory or one file); return questions and problems."""
    target = exam_dir() if path is None else Path(path).expanduser()
    if target.is_dir():
        bank = target
        files = sorted(p for p in target.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
        if not files:
            return [], [f"{target}: no question files (NN_topic.yaml) found."]
    elif target.is_file():
        bank, files = target.parent, [target]
    else:
        return [], [f"{target}: no such file or directory; set {ENV_VAR} or pass the path of the exam/ directory."]

    problems: list[str] = []
    questions: list[Question] = []
    ids: dict[str, str] = {}
    stems: dict[str, str] = {}
    for file in files:
        m = _FILE_RE.fullmatch(file.name)
        file_topic = m.group(1) if m else None
        if not m:
            problems.append(
                f"{file.name}: file name must be NN_topic.yaml (two-digit lesson, lower-case snake_case, .yaml)."
            )
        elif file_topic not in TOPICS:
            problems.append(f"{file.name}: prefix {file_topic!r} is not a lesson number ('00' to '14').")
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problems.append(f"{file.name}: malformed YAML{at}: {getattr(exc, 'problem', None) or exc}.")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{file.name}: cannot be read: {exc}.")
            continue
        if data is None:
            problems.append(f"{file.name}: is empty; it must be a YAML list of questions.")
            continue
        if not isinstance(data, list):
            problems.append(f"{file.name}: top level must be a YAML list of questions, got {_type_name(data)}.")
            continue
        for n, item in enumerate(data, start=1):
            label = item.get("id") if isinstance(item, dict) else None
            where = f"{file.name} question {n}" + (f" ({label})" if isinstance(label, str) else "")
            found = _check_question(item, where, file_topic, bank)
            problems += found
            if not isinstance(item, dict):
                continue
            qid, stem = item.get("id"), item.get("question")
            if isinstance(qid, str):
                if qid in ids:
                    problems.append(f"{where}: duplicate id {qid!r} (also {ids[qid]}); ids must be unique.")
                ids.setdefault(qid, where)
            if isinstance(stem, str) and stem.strip():
                key = _norm(stem)
                if key in stems:
                    problems.append(f"{where}: duplicate question text (same as {stems[key]}).")
                stems.setdefault(key, where)
            if not found:
                questions.append(
                    Question(
                        id=item["id"],
                        topic=item["topic"],
                        domains=tuple(item["domains"]),
                        question=item["question"].strip(),
                        options=tuple(o.strip() for o in item["options"]),
                        answer=tuple(item["answer"]),
                        explanation=item["explanation"].strip(),
                        reference=item["reference"].strip(),
                        source=file.name,
                    )
                )
    return sorted(questions, key=lambda q: q.id), problems


def validate_bank(path: str | os.PathLike[str] | None = None) -> list[str]:
    """Return every problem found in the bank (``path``: a directory or one file; default ``exam_dir()``).

    An empty list means the bank is valid.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a file or directory path (str or Path), got {type(path).__name__}.")
    return _scan(None if path is None else Path(path))[1]


def load_questions(topic: str | None = None) -> list[Question]:
    """Load the bank's questions (all, or one topic such as ``"01"``), sorted by id.

    Raises StackLabError listing the problems if the bank is invalid.
    """
    if topic is not None:
        require_str("topic", topic)
        if topic not in TOPICS:
            raise InputError(f"topic must be a two-digit lesson number from '00' to '14', got {topic!r}.")
    questions, problems = _scan(None)
    if problems:
        listed = "\n  - ".join(problems)
        raise StackLabError(
            f"The question bank in {exam_dir()} has {len(problems)} problem(s):\n  - {listed}\n"
            "Fix them (python -c 'import stacklab.exam_bank as b; print(b.validate_bank())' lists them)."
        )
    return [q for q in questions if topic is None or q.topic == topic]
