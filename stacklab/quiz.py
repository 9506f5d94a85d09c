"""Quizzes over the exam/ question bank: ipywidgets in JupyterLab, plain text everywhere else.

``quiz("01")`` returns a :class:`Quiz` that displays itself. Its text/plain rendering is a
deterministic listing of the questions (nbval compares it); in a live kernel with ipywidgets the
widget view is added beside it. In text mode the learner answers with ``q.answer("01-003", "b")``.
The widget buttons call the same :meth:`Quiz.submit`, so everything is testable without a browser.
Your first answer to each question is the one that counts; when every question has one, the score
is recorded with :func:`stacklab.progress.record_quiz`.
"""

from __future__ import annotations

import html
import json
import random
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacklab import progress
from stacklab._validate import require_choice, require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.exam_bank import TOPICS, Question, load_questions

MODES = ("auto", "widget", "text")
LETTERS = "abcdef"
WIDTH = 100
_CHOOSE_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _letters(indices: Iterable[int]) -> str:
    return ", ".join(f"{LETTERS[i]})" for i in sorted(indices))


def _wrap(text: str, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        " ".join(text.split()),
        width=WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


def _kernel_available() -> bool:
    """True when running inside an IPython kernel that can display widgets."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError as exc:  # pragma: no cover - ipywidgets is a dependency
        raise StackLabError(
            "ipywidgets is not installed, so the quiz cannot show widgets. Use mode='text' "
            "(answer with q.answer(...)), or install ipywidgets."
        ) from exc
    return ipywidgets


@dataclass(frozen=True, repr=False)
class AnswerResult:
    """The outcome of answering one question; renders as ✅/❌ with the explanation."""

    question_id: str
    selected: tuple[int, ...]
    answer: tuple[int, ...]
    correct: bool
    explanation: str
    reference: str
    first_attempt: bool
    first_correct: bool
    score: dict = field(default_factory=dict)
    completed: bool = False
    progress_note: str = ""

    def text(self) -> str:
        """Plain-text rendering: verdict, the right answer, why, and the running score."""
        if self.correct:
            head = f"✅ {self.question_id}: correct — {_letters(self.answer)}"
        else:
            head = (
                f"❌ {self.question_id}: not correct — you chose {_letters(self.selected)}; "
                f"the answer is {_letters(self.answer)}"
            )
        lines = [head, _wrap(self.explanation, "   ", "Why: "), f"Reference: {self.reference}"]
        if not self.first_attempt:
            verdict = "correct" if self.first_correct else "not correct"
            lines.append(f"(Only your first answer to a question counts: it was {verdict}.)")
        lines.append(_score_line(self.score))
        if self.completed:
            lines.append(self.progress_note)
        return "\n".join(line for line in lines if line)

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()


def _score_line(score: dict) -> str:
    if not score:
        return ""
    correct, answered, total = score["correct"], score["answered"], score["total"]
    if answered == total:
        pct = round(100 * correct / total)
        return f"Quiz complete: {correct} of {total} correct ({pct}%)."
    return f"Score so far: {correct} correct of {answered} answered ({total} questions)."


class Quiz:
    """A quiz over some of the bank's questions for one topic. Build it with :func:`quiz`."""

    def __init__(self, topic: str, questions: Sequence[Question], mode: str) -> None:
        self.topic = topic
        self.questions: tuple[Question, ...] = tuple(questions)
        self.mode = mode
        self._by_id = {q.id: q for q in self.questions}
        self._first: dict[str, AnswerResult] = {}
        self._last: dict[str, AnswerResult] = {}
        self._recorded = False
        self._progress_note = ""
        self._widget: Any = None
        self._controls: dict[str, dict[str, Any]] = {}
        self._score_html: Any = None

    # ----------------------------------------------------------------- state
    @property
    def quiz_id(self) -> str:
        """The id under which the score is recorded in progress (``quiz.<topic>``)."""
        return f"quiz.{self.topic}"

    @property
    def score(self) -> dict:
        """``{"correct", "answered", "total"}`` counting first answers only."""
        return {
            "correct": sum(r.correct for r in self._first.values()),
            "answered": len(self._first),
            "total": len(self.questions),
        }

    @property
    def results(self) -> dict[str, AnswerResult]:
        """The first answer to each answered question, by question id."""
        return dict(self._first)

    def domain_scores(self) -> dict[str, dict]:
        """Per exam-domain tag: ``{"correct", "answered", "total"}`` over first answers."""
        out: dict[str, dict] = {}
        for q in self.questions:
            for d in q.domains:
                row = out.setdefault(d, {"correct": 0, "answered": 0, "total": 0})
                row["total"] += 1
                if q.id in self._first:
                    row["answered"] += 1
                    row["correct"] += int(self._first[q.id].correct)
        return dict(sorted(out.items()))

    def reset(self) -> None:
        """Forget all answers (the recorded progress stays) so the quiz can be taken again."""
        self._first.clear()
        self._last.clear()
        self._recorded = False
        self._progress_note = ""
        for qid, ctl in self._controls.items():
            self._set_selection(qid, ())
            ctl["feedback"].value = ""
        self._refresh_score()

    # ----------------------------------------------------------- answering
    def _question(self, question_id: Any) -> Question:
        require_str("question_id", question_id)
        q = self._by_id.get(question_id.strip())
        if q is None:
            listed = ", ".join(self._by_id)
            raise InputError(
                f"This quiz has no question {question_id!r}; its questions are {listed}. "
                "Pass one of these ids, e.g. q.answer(" + repr(self.questions[0].id) + ', "a").'
            )
        return q

    def _validate_selection(self, q: Question, indices: Sequence[int]) -> tuple[int, ...]:
        n = len(q.options)
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int):
                raise InputError(f"Selections must be option indices (int) or letters, got {type(i).__name__} {i!r}.")
            if not 0 <= i < n:
                raise InputError(
                    f"Question {q.id} has options {LETTERS[0]}–{LETTERS[n - 1]} (indices 0–{n - 1}); got index {i}."
                )
        if len(set(indices)) != len(indices):
            raise InputError(f"Question {q.id}: you selected the same option twice ({list(indices)}).")
        if not indices:
            raise InputError(f"Question {q.id}: select at least one option before checking.")
        need = len(q.answer)
        if len(indices) != need:
            if need == 1:
                raise InputError(
                    f'Question {q.id} has one correct answer: choose exactly one option, e.g. q.answer("{q.id}", "a").'
                )
            word = _CHOOSE_WORDS.get(need, str(need))
            raise InputError(
                f"Question {q.id} says '(Choose {word}.)': select exactly {need} options, e.g. "
                f'q.answer("{q.id}", {json.dumps([LETTERS[i] for i in range(need)])}).'
            )
        return tuple(sorted(indices))

    def submit(self, question_id: str, selected_indices: Iterable[int]) -> AnswerResult:
        """Answer a question with zero-based option indices (what the widget's button calls)."""
        q = self._question(question_id)
        if isinstance(selected_indices, (str, bytes)) or not isinstance(selected_indices, Iterable):
            raise InputError(
                "selected_indices must be a list of zero-based option indices, e.g. [1] or [0, 3]; "
                f"got {selected_indices!r}. To answer with letters use q.answer(...)."
            )
        chosen = self._validate_selection(q, list(selected_indices))
        correct = set(chosen) == set(q.answer)
        first = q.id not in self._first
        if first:
            self._first[q.id] = AnswerResult(q.id, chosen, q.answer, correct, q.explanation, q.reference, True, correct)
        completed = len(self._first) == len(self.questions)
        if completed and not self._recorded:
            self._record()
        result = AnswerResult(
            question_id=q.id,
            selected=chosen,
            answer=q.answer,
            correct=correct,
            explanation=q.explanation,
            reference=q.reference,
            first_attempt=first,
            first_correct=self._first[q.id].correct,
            score=self.score,
            completed=completed,
            progress_note=self._progress_note if completed else "",
        )
        if first:
            self._first[q.id] = result
        self._last[q.id] = result
        self._show_feedback(q.id, result)
        return result

    def answer(self, question_id: str, choice: str | int | Sequence[str | int]) -> AnswerResult:
        """Answer in code: ``q.answer("01-003", "b")``, ``q.answer("01-007", ["a", "c"])`` or indices."""
        q = self._question(question_id)
        indices = self._parse_choice(q, choice)
        result = self.submit(q.id, indices)
        self._set_selection(q.id, result.selected)
        return result

    def _parse_choice(self, q: Question, choice: Any) -> list[int]:
        n = len(q.options)
        hint = (
            f"Pass a letter from {LETTERS[0]!r} to {LETTERS[n - 1]!r} (or a zero-based index), or a list "
            f'of them for a "(Choose N.)" question, e.g. q.answer("{q.id}", "b").'
        )
        if isinstance(choice, str):
            items: list[Any] = [c for c in choice.replace(",", " ").split() if c]
            if len(items) == 1 and len(items[0]) > 1 and items[0].isalpha():
                items = list(items[0])
        elif isinstance(choice, int) and not isinstance(choice, bool):
            items = [choice]
        elif isinstance(choice, (list, tuple)):
            items = list(choice)
        else:
            raise InputError(f"Question {q.id}: cannot read the answer {choice!r}. {hint}")
        if not items:
            raise InputError(f"Question {q.id}: the answer is empty. {hint}")
        out: list[int] = []
        for item in items:
            if isinstance(item, bool):
                raise InputError(f"Question {q.id}: {item!r} is not an option. {hint}")
            if isinstance(item, int):
                out.append(item)
            elif isinstance(item, str) and len(item.strip()) == 1 and item.strip().isalpha():
                letter = item.strip().lower()
                idx = LETTERS.find(letter)
                if idx < 0 or idx >= n:
                    raise InputError(
                        f"Question {q.id} has options {LETTERS[0]}–{LETTERS[n - 1]}; there is no {item!r}."
                    )
                out.append(idx)
            else:
                raise InputError(f"Question {q.id}: {item!r} is not an option letter. {hint}")
        return out

    def _record(self) -> None:
        s = self.score
        try:
            progress.record_quiz(self.quiz_id, self.topic, s["correct"], s["total"])
        except StackLabError as exc:
            self._progress_note = f"Your score could not be saved to your progress: {exc}"
            warnings.warn(self._progress_note, RuntimeWarning, stacklevel=3)
        else:
            self._progress_note = "Saved to your progress (python -m stacklab progress shows it)."
        self._recorded = True

    # ------------------------------------------------------------ rendering
    def text(self) -> str:
        """The deterministic plain-text rendering: questions, lettered options, how to answer."""
        single = next((q for q in self.questions if not q.multiple), None)
        multi = next((q for q in self.questions if q.multiple), None)
        how = "where q is this quiz object; letters or zero-based indices both work."
        lines = [f"Quiz — lesson {self.topic}: {len(self.questions)} question(s)"]
        if single is not None:
            lines.append(f'Answer in code with q.answer("{single.id}", "b"), {how}')
        if multi is not None:
            call = f'q.answer("{multi.id}", {json.dumps([LETTERS[i] for i in range(len(multi.answer))])})'
            if single is not None:
                lines.append(f'For a "(Choose N.)" question pass a list: {call}.')
            else:
                lines.append(f"Answer in code with {call}, {how}")
        lines.append('With widgets, pick your answer and press "Check answer". Your first answer counts.')
        lines = [_wrap(line) for line in lines]
        for number, q in enumerate(self.questions, start=1):
            lines.append("")
            lines.append(_wrap(q.question, "    ", f"{number}. [{q.id}] "))
            for i, option in enumerate(q.options):
                lines.append(_wrap(option, "       ", f"   {LETTERS[i]}) "))
            if q.id in self._first:
                verdict = "✅ correct" if self._first[q.id].correct else "❌ not correct"
                lines.append(f"   → answered: {verdict}")
        if self._first:
            lines.append("")
            lines.append(_score_line(self.score))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def __str__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        """text/plain is always the deterministic text; the widget view is added in widget mode."""
        data: dict[str, Any] = {"text/plain": self.text()}
        if self.mode == "widget":
            bundle = self.widget._repr_mimebundle_() or {}
            view = bundle.get("application/vnd.jupyter.widget-view+json")
            if view:
                data["application/vnd.jupyter.widget-view+json"] = view
        return data

    # -------------------------------------------------------------- widgets
    @property
    def widget(self) -> Any:
        """The ipywidgets view of the quiz (built on first use)."""
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _build_widget(self) -> Any:
        w = _widgets()
        header = w.HTML(
            f"<b>Quiz — lesson {html.escape(self.topic)}</b>: {len(self.questions)} question(s). "
            "Pick your answer and press <i>Check answer</i>; your first answer to each question counts."
        )
        boxes = [header]
        for number, q in enumerate(self.questions, start=1):
            stem = w.HTML(f"<b>{number}. [{html.escape(q.id)}]</b> {html.escape(q.question)}")
            labels = [f"{LETTERS[i]}) {opt}" for i, opt in enumerate(q.options)]
            if q.multiple:
                checks = [
                    w.Checkbox(value=False, description=label, indent=False, layout=w.Layout(width="auto"))
                    for label in labels
                ]
                selector = w.VBox(checks)
            else:
                checks = []
                selector = w.RadioButtons(
                    options=[(label, i) for i, label in enumerate(labels)],
                    value=None,
                    layout=w.Layout(width="auto"),
                )
            button = w.Button(description="Check answer", button_style="primary")
            feedback = w.HTML("")
            button.on_click(lambda _button, qid=q.id: self.check(qid))
            self._controls[q.id] = {
                "selector": selector,
                "checks": checks,
                "button": button,
                "feedback": feedback,
            }
            boxes.append(w.VBox([stem, selector, button, feedback], layout=w.Layout(margin="0 0 12px 0")))
        self._score_html = w.HTML("")
        boxes.append(self._score_html)
        box = w.VBox(boxes)
        for qid, result in self._last.items():  # answers given in code before the widget was built
            self._set_selection(qid, result.selected)
            self._show_feedback(qid, result)
        self._refresh_score()
        return box

    def selected_in_widget(self, question_id: str) -> tuple[int, ...]:
        """The option indices currently selected in the widget for ``question_id``."""
        q = self._question(question_id)
        if q.id not in self._controls:
            _ = self.widget  # builds the controls on first use
        ctl = self._controls[q.id]
        if q.multiple:
            return tuple(i for i, c in enumerate(ctl["checks"]) if c.value)
        value = ctl["selector"].value
        return () if value is None else (value,)

    def check(self, question_id: str) -> AnswerResult | None:
        """What the "Check answer" button does: submit the widget's selection and show feedback."""
        q = self._question(question_id)
        selected = self.selected_in_widget(q.id)
        try:
            return self.submit(q.id, selected)
        except InputError as exc:
            self._controls[q.id]["feedback"].value = f"<span>⚠️ {html.escape(str(exc))}</span>"
            return None

    def _set_selection(self, question_id: str, selected: Sequence[int]) -> None:
        ctl = self._controls.get(question_id)
        if ctl is None:
            return
        if ctl["checks"]:
            for i, c in enumerate(ctl["checks"]):
                c.value = i in selected
        else:
            ctl["selector"].value = selected[0] if selected else None

    def _show_feedback(self, question_id: str, result: AnswerResult) -> None:
        ctl = self._controls.get(question_id)
        if ctl is None:
            return
        if result.correct:
            verdict = f"✅ Correct — {html.escape(_letters(result.answer))}"
        else:
            verdict = (
                f"❌ Not correct — you chose {html.escape(_letters(result.selected))}; "
                f"the answer is {html.escape(_letters(result.answer))}"
            )
        ref = html.escape(result.reference)
        if result.reference.startswith("https://"):
            ref = f'<a href="{ref}" target="_blank" rel="noopener">{ref}</a>'
        note = ""
        if not result.first_attempt:
            first = "correct" if result.first_correct else "not correct"
            note = f"<br><i>Only your first answer counts: it was {first}.</i>"
        body = f"{html.escape(result.explanation)}<br>Reference: {ref}"
        ctl["feedback"].value = f"<div><b>{verdict}</b>{note}<br>{body}</div>"
        self._refresh_score()

    def _refresh_score(self) -> None:
        if self._score_html is None:
            return
        line = _score_line(self.score) if self._first else "Score: no answers yet."
        if self._recorded and self._progress_note:
            line += " " + self._progress_note
        self._score_html.value = f"<b>{html.escape(line)}</b>"


def quiz(
    topic: str,
    *,
    n: int | None = None,
    seed: int = 0,
    ids: list[str] | None = None,
    mode: str = "auto",
) -> Quiz:
    """Build a quiz for ``topic`` ("00".."14"): all its questions, ``n`` drawn with ``seed``, or ``ids``.

    ``mode``: "widget" (ipywidgets), "text" (answer with ``q.answer``), or "auto" (widgets when
    running in a kernel with ipywidgets, else text).
    """
    require_str("topic", topic)
    if topic not in TOPICS:
        raise InputError(f"topic must be a two-digit lesson number from '00' to '14', got {topic!r}.")
    require_choice("mode", mode, MODES)
    require_number("seed", seed, integer=True)
    if n is not None and ids is not None:
        raise InputError("Pass either n (a random draw) or ids (exact questions), not both.")
    available = load_questions(topic)
    if not available:
        raise InputError(f"There are no questions for topic {topic!r} in the bank yet; pick another topic.")
    if ids is not None:
        if isinstance(ids, str) or not isinstance(ids, (list, tuple)) or not ids:
            raise InputError(f'ids must be a non-empty list of question ids, e.g. ["{available[0].id}"].')
        by_id = {q.id: q for q in available}
        for qid in ids:
            require_str("each id in ids", qid)
        unknown = [qid for qid in ids if qid not in by_id]
        if unknown:
            raise InputError(
                f"Unknown question id(s) for topic {topic}: {', '.join(map(repr, unknown))}. "
                f"Available: {', '.join(by_id)}."
            )
        if len(set(ids)) != len(ids):
            raise InputError(f"ids lists a question more than once: {list(ids)}.")
        chosen = [by_id[qid] for qid in ids]
    elif n is not None:
        require_number("n", n, minimum=1, integer=True)
        if n > len(available):
            raise InputError(
                f"Topic {topic} has {len(available)} questions; pass n <= {len(available)} or omit n for all."
            )
        chosen = sorted(random.Random(seed).sample(available, n), key=lambda q: q.id)
    else:
        chosen = available
    resolved = mode
    if mode == "auto":
        resolved = "widget" if _kernel_available() else "text"
    elif mode == "widget":
        _widgets()
    return Quiz(topic, chosen, resolved)
