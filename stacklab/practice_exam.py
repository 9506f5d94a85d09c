"""Timed practice exams over the whole question bank, scored per lesson and per exam domain.

``practice_exam(n=20, exam="SAA-C03", seed=1)`` draws ``n`` questions (seeded, spread evenly over the
lessons that have questions for the chosen exam or domains), shows them like a quiz (widgets, or
``exam.answer(id, "b")`` in code), and when you are done ``exam.report()`` gives the score per lesson and
per exam domain, the time you used against the limit, and a review of every wrong answer: your choice,
the right one, why (each explanation says why the other options are wrong) and the lesson to revisit.
The finished exam is saved to your progress (``python -m stacklab progress``).

The timer runs on ``time.monotonic`` unless a ``clock`` is given (any callable returning seconds, or the
sandbox clock ``stacklab.clock()``); it reports whole minutes, so a lesson's stored output stays stable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stacklab import progress
from stacklab._validate import require_choice, require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.exam_bank import DOMAINS, REPO_ROOT, TOPICS, Question, load_questions
from stacklab.quiz import LETTERS, MODES, Quiz, _kernel_available, _widgets, _wrap

#: The two exams the bank practises, with their format (AWS exam guides, checked 2026-11-27).
EXAMS: dict[str, str] = {
    "SAA-C03": "AWS Certified Solutions Architect – Associate: 65 questions in 130 minutes, pass mark 720 of 1000",
    "DVA-C02": "AWS Certified Developer – Associate: 65 questions in 130 minutes, pass mark 720 of 1000",
}
#: AWS's pace: 130 minutes for 65 questions.
MINUTES_PER_QUESTION = 2.0
EXAM_ID = "exam.practice"
EXAM_LESSON = "14"


def lesson_for(topic: str) -> str:
    """The notebook to revisit for a topic, e.g. ``"03"`` → ``notebooks/03_cloudfront_caching.ipynb``."""
    require_str("topic", topic)
    if topic not in TOPICS:
        raise InputError(f"topic must be a two-digit lesson number from '00' to '14', got {topic!r}.")
    found = sorted((REPO_ROOT / "notebooks").glob(f"{topic}_*.ipynb"))
    return str(found[0].relative_to(REPO_ROOT)) if found else f"lesson {topic}"


def _clock_function(clock: Any) -> Callable[[], float]:
    if clock is None:
        return time.monotonic
    if hasattr(clock, "now") and callable(clock.now):  # the sandbox clock
        return lambda: clock.now().timestamp()
    if callable(clock):
        return lambda: float(clock())
    raise InputError(
        f"clock must be None (real time), stacklab.clock() or a function returning seconds; got {clock!r}."
    )


def _domain_filter(exam: str | None, domains: Sequence[str] | None) -> set[str] | None:
    if exam is not None and domains is not None:
        raise InputError("Pass exam (e.g. 'SAA-C03') or domains (e.g. ['DVA-C02:D2']), not both.")
    if exam is not None:
        require_choice("exam", exam, tuple(EXAMS))
        return {d for d in DOMAINS if d.startswith(exam + ":")}
    if domains is not None:
        if isinstance(domains, str) or not isinstance(domains, (list, tuple)) or not domains:
            raise InputError("domains must be a non-empty list of domain tags, e.g. ['SAA-C03:D1', 'DVA-C02:D2'].")
        unknown = [d for d in domains if d not in DOMAINS or d == "COURSE:D0"]
        if unknown:
            allowed = ", ".join(d for d in DOMAINS if d != "COURSE:D0")
            raise InputError(f"Unknown exam domain(s) {unknown}; use tags from: {allowed}.")
        return set(domains)
    return None


def draw(
    n: int, *, seed: int = 0, exam: str | None = None, domains: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> list[Question]:
    """``n`` questions drawn with ``seed``, spread round-robin over the lessons that have matching ones."""
    require_number("n", n, minimum=1, integer=True)
    require_number("seed", seed, integer=True)
    wanted = _domain_filter(exam, domains)
    if topics is not None:
        if isinstance(topics, str) or not isinstance(topics, (list, tuple)) or not topics:
            raise InputError("topics must be a non-empty list of lesson numbers, e.g. ['05', '06'].")
        bad = [t for t in topics if t not in TOPICS]
        if bad:
            raise InputError(f"Unknown lesson number(s) {bad}; use two-digit strings from '01' to '13'.")
    pool = [
        q for q in load_questions()
        if q.topic != "00"  # questions about the course itself are not exam practice
        and (topics is None or q.topic in topics)
        and (wanted is None or wanted.intersection(q.domains))
    ]
    if len(pool) < n:
        raise InputError(
            f"Only {len(pool)} questions match this choice of exam, domains and lessons; ask for n <= {len(pool)} "
            "or widen the choice."
        )
    rng = random.Random(seed)
    by_topic: dict[str, list[Question]] = {}
    for q in pool:
        by_topic.setdefault(q.topic, []).append(q)
    for questions in by_topic.values():
        rng.shuffle(questions)
    order = sorted(by_topic)
    rng.shuffle(order)
    chosen: list[Question] = []
    while len(chosen) < n:
        for topic in order:
            if by_topic[topic] and len(chosen) < n:
                chosen.append(by_topic[topic].pop())
    rng.shuffle(chosen)
    return chosen


@dataclass(frozen=True)
class Breakdown:
    """Correct / answered / total for one lesson or one exam domain."""

    key: str
    label: str
    correct: int
    answered: int
    total: int

    @property
    def percent(self) -> int:
        """Correct answers as a whole percentage of the questions in this group."""
        return round(100 * self.correct / self.total) if self.total else 0


class PracticeExam(Quiz):
    """A timed practice exam (a :class:`~stacklab.quiz.Quiz` over many lessons). Build it with :func:`practice_exam`."""

    def __init__(
        self, questions: Sequence[Question], mode: str, *, minutes: float, clock: Callable[[], float], title: str
    ) -> None:
        super().__init__(EXAM_LESSON, questions, mode)
        self.minutes = minutes
        self.title = title
        self._now = clock
        self._started = clock()
        self._finished_at: float | None = None

    @property
    def quiz_id(self) -> str:
        """Practice exams are saved in progress under ``exam.practice``."""
        return EXAM_ID

    # ----------------------------------------------------------------- time
    def minutes_used(self) -> int:
        """Whole minutes since the exam started (until its last answer once every question is answered)."""
        end = self._finished_at if self._finished_at is not None else self._now()
        return int(max(0.0, end - self._started) // 60)

    def over_time(self) -> bool:
        """True when the time used exceeds the limit."""
        end = self._finished_at if self._finished_at is not None else self._now()
        return end - self._started > self.minutes * 60

    def submit(self, question_id: str, selected_indices: Any) -> Any:
        """Answer one question (what the widget button and :meth:`answer` call); stops the timer at the last."""
        result = super().submit(question_id, selected_indices)
        if result.completed and self._finished_at is None:
            self._finished_at = self._now()
        return result

    # --------------------------------------------------------------- scores
    def _group(self, key_of: Callable[[Question], Sequence[str]], label: Callable[[str], str]) -> list[Breakdown]:
        rows: dict[str, list[int]] = {}
        for q in self.questions:
            for key in key_of(q):
                row = rows.setdefault(key, [0, 0, 0])
                row[2] += 1
                if q.id in self._first:
                    row[1] += 1
                    row[0] += int(self._first[q.id].correct)
        return [Breakdown(k, label(k), *rows[k]) for k in sorted(rows)]

    def by_lesson(self) -> list[Breakdown]:
        """Score per lesson (topic)."""
        return self._group(lambda q: (q.topic,), lesson_for)

    def by_domain(self) -> list[Breakdown]:
        """Score per exam domain (a question may count for several domains)."""
        return self._group(lambda q: q.domains, lambda d: DOMAINS[d])

    def wrong_answers(self) -> list[tuple[Question, tuple[int, ...]]]:
        """Each question answered wrongly at the first attempt, with the options chosen."""
        first = self._first
        return [(q, first[q.id].selected) for q in self.questions if q.id in first and not first[q.id].correct]

    def _record(self) -> None:
        super()._record()
        s = self.score
        try:
            progress.record_exam(
                EXAM_ID,
                correct=s["correct"],
                total=s["total"],
                minutes=self.minutes_used(),
                by_domain={b.key: [b.correct, b.total] for b in self.by_domain()},
                by_lesson={b.key: [b.correct, b.total] for b in self.by_lesson()},
            )
        except StackLabError as exc:
            self._progress_note = f"Your exam could not be saved to your progress: {exc}"

    # ---------------------------------------------------------------- report
    def report(self) -> ExamReport:
        """The score per lesson and domain, the time used, and the review of every wrong answer."""
        return ExamReport(self)

    def text(self) -> str:
        """The exam as text: its rules, then the questions (as a quiz shows them)."""
        head = [
            f"{self.title}: {len(self.questions)} questions, time limit {self.minutes:g} minutes "
            "(the timer started when this cell ran).",
            "Answer with exam.answer(id, letter) or the widgets; your first answer counts. "
            "When you are done, exam.report() scores you by lesson and exam domain and reviews your mistakes.",
        ]
        body = super().text().split("\n", 1)[1].replace("q.answer(", "exam.answer(")
        body = body.replace("where q is this quiz object", "where exam is this practice exam")
        return "\n".join(_wrap(line) for line in head) + "\n" + body


class ExamReport:
    """What :meth:`PracticeExam.report` returns; renders as text (and HTML tables in JupyterLab)."""

    def __init__(self, exam: PracticeExam) -> None:
        self.exam = exam
        self.score = exam.score
        self.lessons = exam.by_lesson()
        self.domains = exam.by_domain()
        self.wrong = exam.wrong_answers()

    def text(self) -> str:
        """Plain-text report: score, time, tables, review."""
        ex, s = self.exam, self.score
        if not s["answered"]:
            return (f"{ex.title}: no answers yet. Answer the questions above (widgets or exam.answer(id, letter)), "
                    "then run this cell again for your score by lesson and exam domain and the review.")
        pct = round(100 * s["correct"] / s["total"])
        lines = [f"{ex.title}: {s['correct']} of {s['total']} correct ({pct}%), {s['answered']} answered."]
        used = ex.minutes_used()
        late = " — over the limit: practise pacing (about 2 minutes a question)" if ex.over_time() else ""
        lines.append(f"Time used: {used} min of {ex.minutes:g} min{late}.")
        if s["answered"] < s["total"]:
            lines.append(f"{s['total'] - s['answered']} question(s) unanswered count as wrong on the real exam.")
        lines.append("Real AWS exams report a scaled score (100-1000, pass 720), not this percentage; "
                     "aim for 80% here before booking.")
        lines += ["", "By lesson:"]
        lines += [f"  {b.correct:>2}/{b.total:<2} {b.percent:>3}%  {b.label}" for b in self.lessons]
        lines += ["", "By exam domain:"]
        lines += [f"  {b.correct:>2}/{b.total:<2} {b.percent:>3}%  {b.label}" for b in self.domains]
        weakest = [b for b in self.lessons if b.answered and b.percent < 70]
        if weakest:
            lines += ["", "Revisit first: " + ", ".join(b.label for b in sorted(weakest, key=lambda b: b.percent))]
        lines += ["", f"Review of wrong answers ({len(self.wrong)}):"]
        if not self.wrong:
            lines.append("  none — well done.")
        for q, chosen in self.wrong:
            you = ", ".join(LETTERS[i] for i in chosen)
            right = ", ".join(LETTERS[i] for i in q.answer)
            lines.append("")
            lines.append(_wrap(q.question, "    ", f"  [{q.id}] "))
            lines.append(f"    You chose {you}; the answer is {right}: " + "; ".join(q.options[i] for i in q.answer))
            lines.append(_wrap(q.explanation, "      ", "    Why: "))
            lines.append(f"    Revisit: {lesson_for(q.topic)} (reference: {q.reference})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()


def coverage() -> str:
    """A table of the bank: questions per lesson, and per exam domain, with single/multiple-answer counts."""
    questions = [q for q in load_questions() if q.topic != "00"]
    lines = ["Questions per lesson (single / multiple answer):"]
    for topic in sorted({q.topic for q in questions}):
        mine = [q for q in questions if q.topic == topic]
        multi = sum(q.multiple for q in mine)
        lines.append(f"  {len(mine):>3}  ({len(mine) - multi:>2} / {multi:>2})  {lesson_for(topic)}")
    lines.append(f"  {len(questions):>3}  in all")
    lines += ["", "Questions per exam domain (a question can practise several):"]
    for tag, label in DOMAINS.items():
        if tag != "COURSE:D0":
            lines.append(f"  {sum(tag in q.domains for q in questions):>3}  {label}")
    return "\n".join(lines)


def practice_exam(
    n: int = 20,
    *,
    exam: str | None = None,
    domains: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
    seed: int = 0,
    minutes: float | None = None,
    clock: Any = None,
    mode: str = "auto",
) -> PracticeExam:
    """A timed practice exam of ``n`` questions drawn with ``seed`` from the bank.

    ``exam``: "SAA-C03" or "DVA-C02" (its domains only), or ``domains``: a list of tags such as
    ``["DVA-C02:D2"]``; ``topics``: limit to some lessons. ``minutes``: the limit (default: AWS's pace,
    2 minutes a question). ``clock``: None (real time), ``stacklab.clock()`` or a function returning
    seconds. ``mode``: "widget", "text" or "auto", as for :func:`stacklab.quiz.quiz`.
    """
    require_choice("mode", mode, MODES)
    questions = draw(n, seed=seed, exam=exam, domains=domains, topics=topics)
    if minutes is None:
        minutes = MINUTES_PER_QUESTION * n
    require_number("minutes", minutes, minimum=1)
    now = _clock_function(clock)
    resolved = mode
    if mode == "auto":
        resolved = "widget" if _kernel_available() else "text"
    elif mode == "widget":
        _widgets()
    title = f"Practice exam ({exam})" if exam else "Practice exam"
    return PracticeExam(questions, resolved, minutes=float(minutes), clock=now, title=title)


__all__ = ["EXAMS", "Breakdown", "ExamReport", "PracticeExam", "coverage", "draw", "lesson_for", "practice_exam"]
