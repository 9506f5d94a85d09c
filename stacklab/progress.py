"""What the learner has completed: lab checks and quiz scores, kept in one JSON file.

The file is ``$STACKLAB_PROGRESS`` if that variable is set, else ``~/.stacklab/progress.json``.
Writes are atomic (a temporary file in the same directory, fsync, then ``os.replace``), so an
interrupted kernel never leaves half a file. A file that cannot be read is moved aside to
``progress.json.corrupt-<timestamp>`` with a warning naming both paths — progress is never dropped
silently — and a fresh document is started.

Document schema::

    {"version": 1,
     "checks":  {check_id: {"lesson", "passed", "passed_ever", "last_result", "attempts",
                            "detail", "first_passed_at", "last_at"}},
     "quizzes": {quiz_id:  {"lesson", "attempts", "best": {"correct", "total"},
                            "last": {"correct", "total"}, "best_at", "last_at"}}}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stacklab._validate import require_bool, require_number, require_str
from stacklab.errors import InputError, StackLabError

SCHEMA_VERSION = 1
ENV_VAR = "STACKLAB_PROGRESS"
LESSONS = tuple(f"{n:02d}" for n in range(15))
_MAX_DETAIL = 2000

_lock = threading.RLock()
_LESSON_RE = re.compile(r"\d{2}")


def _now() -> datetime:
    """The current time in UTC (a function so tests can control it)."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fresh() -> dict[str, Any]:
    return {"version": SCHEMA_VERSION, "checks": {}, "quizzes": {}}


def progress_path() -> Path:
    """Return the progress file's path: ``$STACKLAB_PROGRESS`` if set, else ``~/.stacklab/progress.json``."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    return Path.home() / ".stacklab" / "progress.json"


def _require_lesson(lesson: Any) -> str:
    require_str("lesson", lesson)
    if not _LESSON_RE.fullmatch(lesson) or lesson not in LESSONS:
        raise InputError(
            f"lesson must be a two-digit lesson number from '00' to '14' (as a string), got {lesson!r}; "
            "for example lesson='01'."
        )
    return lesson


def _unique(path: Path) -> Path:
    """``path`` if free, else ``path`` with ``-1``, ``-2``, ... appended."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _structure_problem(doc: Any) -> str | None:
    """Why ``doc`` is not a usable progress document, or None if it is."""
    if not isinstance(doc, dict):
        return f"the top level is a {type(doc).__name__}, not an object"
    if doc.get("version") != SCHEMA_VERSION:
        return f"version is {doc.get('version')!r}, expected {SCHEMA_VERSION}"
    for key in ("checks", "quizzes"):
        section = doc.get(key)
        if not isinstance(section, dict):
            return f"{key!r} is missing or not an object"
        if not all(isinstance(v, dict) for v in section.values()):
            return f"an entry of {key!r} is not an object"
    exams = doc.get("exams", [])
    if not isinstance(exams, list) or not all(isinstance(e, dict) for e in exams):
        return "'exams' is not a list of objects"
    return None


def _set_aside(path: Path, reason: str) -> Path:
    """Move an unreadable progress file aside, warn naming both paths, and return the new path."""
    target = _unique(path.with_name(f"{path.name}.corrupt-{_stamp(_now())}"))
    try:
        os.replace(path, target)
    except OSError as exc:
        raise StackLabError(
            f"The progress file {path} cannot be read ({reason}) and could not be moved aside to {target}: "
            f"{exc}. Move or fix it by hand, or set {ENV_VAR} to another file."
        ) from exc
    warnings.warn(
        f"The progress file {path} could not be read ({reason}); it was kept as {target} and a fresh "
        "progress file is started. Nothing was deleted: fix the copy and move it back to restore it.",
        RuntimeWarning,
        stacklevel=3,
    )
    return target


def _read(path: Path) -> dict[str, Any]:
    """Read the document at ``path``; missing → fresh; unreadable → set aside (with warning) → fresh."""
    if path.is_dir():
        raise StackLabError(
            f"The progress path {path} is a directory. Set {ENV_VAR} to a file path such as {path / 'progress.json'}."
        )
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _fresh()
    except UnicodeDecodeError:
        _set_aside(path, "it is not UTF-8 text")
        return _fresh()
    except OSError as exc:
        raise StackLabError(
            f"Cannot read the progress file {path}: {exc}. Check its permissions, or set {ENV_VAR} to "
            "a file you can read and write."
        ) from exc
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        _set_aside(path, f"invalid JSON: {exc}")
        return _fresh()
    problem = _structure_problem(doc)
    if problem:
        _set_aside(path, problem)
        return _fresh()
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically: temp file in the same directory, fsync, os.replace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StackLabError(
            f"Cannot write the progress file {path}: {exc}. Set {ENV_VAR} to a file in a directory you can write to."
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise StackLabError(
                f"Cannot write the progress file {path}: {exc}. Set {ENV_VAR} to a writable file."
            ) from exc
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def load() -> dict:
    """Return the whole progress document (``{"version": 1, "checks": {...}, "quizzes": {...}}``)."""
    with _lock:
        return _read(progress_path())


def record_check(check_id: str, lesson: str, passed: bool, detail: str = "") -> None:
    """Record one run of a lab check. A pass is kept even if a later run fails."""
    require_str("check_id", check_id)
    _require_lesson(lesson)
    require_bool("passed", passed)
    require_str("detail", detail, allow_empty=True)
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    with _lock:
        path = progress_path()
        doc = _read(path)
        now = _iso(_now())
        entry = doc["checks"].get(check_id, {})
        ever = bool(entry.get("passed_ever", entry.get("passed", False))) or passed
        first = entry.get("first_passed_at") or (now if passed else None)
        attempts = entry.get("attempts", 0)
        doc["checks"][check_id] = {
            "lesson": lesson,
            "passed": ever,
            "passed_ever": ever,
            "last_result": "pass" if passed else "fail",
            "attempts": (attempts if isinstance(attempts, int) else 0) + 1,
            "detail": detail,
            "first_passed_at": first,
            "last_at": now,
        }
        _write(path, doc)


def _ratio(score: Any) -> float:
    try:
        return score["correct"] / score["total"]
    except (KeyError, TypeError, ZeroDivisionError):
        return -1.0


def record_quiz(quiz_id: str, lesson: str, correct: int, total: int) -> None:
    """Record a finished quiz: ``correct`` of ``total``. Keeps the best and the last score."""
    require_str("quiz_id", quiz_id)
    _require_lesson(lesson)
    require_number("total", total, minimum=1, integer=True)
    require_number("correct", correct, minimum=0, integer=True)
    if correct > total:
        raise InputError(f"correct ({correct}) cannot be more than total ({total}): pass correct <= total.")
    with _lock:
        path = progress_path()
        doc = _read(path)
        now = _iso(_now())
        entry = doc["quizzes"].get(quiz_id, {})
        score = {"correct": correct, "total": total}
        best, best_at = entry.get("best"), entry.get("best_at")
        if _ratio(score) > _ratio(best) or (
            _ratio(score) == _ratio(best) and isinstance(best, dict) and total > best.get("total", 0)
        ):
            best, best_at = score, now
        attempts = entry.get("attempts", 0)
        doc["quizzes"][quiz_id] = {
            "lesson": lesson,
            "attempts": (attempts if isinstance(attempts, int) else 0) + 1,
            "best": best,
            "best_at": best_at,
            "last": score,
            "last_at": now,
        }
        _write(path, doc)


#: Practice exams kept in the progress file (the oldest are dropped beyond this).
MAX_EXAMS = 50


def _score_map(name: str, value: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) for x in v)
        and 0 <= v[0] <= v[1]
        for k, v in value.items()
    ):
        raise InputError(f"{name} must map names to [correct, total] pairs of integers, e.g. {{'03': [2, 3]}}.")
    return {k: [int(v[0]), int(v[1])] for k, v in value.items()}


def record_exam(
    exam_id: str, *, correct: int, total: int, minutes: int,
    by_domain: dict[str, list[int]], by_lesson: dict[str, list[int]],
) -> None:
    """Record a finished practice exam (kept in order, the last :data:`MAX_EXAMS`)."""
    require_str("exam_id", exam_id)
    require_number("total", total, minimum=1, integer=True)
    require_number("correct", correct, minimum=0, integer=True)
    require_number("minutes", minutes, minimum=0, integer=True)
    if correct > total:
        raise InputError(f"correct ({correct}) cannot be more than total ({total}): pass correct <= total.")
    entry = {
        "exam": exam_id,
        "at": "",
        "correct": correct,
        "total": total,
        "minutes": minutes,
        "by_domain": _score_map("by_domain", by_domain),
        "by_lesson": _score_map("by_lesson", by_lesson),
    }
    with _lock:
        path = progress_path()
        doc = _read(path)
        entry["at"] = _iso(_now())
        doc["exams"] = [*doc.get("exams", []), entry][-MAX_EXAMS:]
        _write(path, doc)


def exam_history() -> list[dict]:
    """The practice exams recorded so far, oldest first."""
    return list(load().get("exams", []))


def lesson_summary() -> list[dict]:
    """One row per lesson seen, in lesson order.

    Keys: ``lesson``, ``checks_passed``, ``checks_total_attempted``, ``quizzes_taken``,
    ``quiz_best_correct`` and ``quiz_best_total`` (summed over the lesson's quizzes; None if no quiz).
    """
    doc = load()
    rows: dict[str, dict[str, Any]] = {}

    def row(lesson: Any) -> dict[str, Any] | None:
        if not isinstance(lesson, str):
            return None
        return rows.setdefault(
            lesson,
            {
                "lesson": lesson,
                "checks_passed": 0,
                "checks_total_attempted": 0,
                "quizzes_taken": 0,
                "quiz_best_correct": None,
                "quiz_best_total": None,
            },
        )

    for entry in doc["checks"].values():
        r = row(entry.get("lesson"))
        if r is None:
            continue
        r["checks_total_attempted"] += 1
        if entry.get("passed_ever", entry.get("passed")):
            r["checks_passed"] += 1
    for entry in doc["quizzes"].values():
        r = row(entry.get("lesson"))
        best = entry.get("best")
        if r is None or _ratio(best) < 0:
            continue
        r["quizzes_taken"] += 1
        r["quiz_best_correct"] = (r["quiz_best_correct"] or 0) + best["correct"]
        r["quiz_best_total"] = (r["quiz_best_total"] or 0) + best["total"]
    return [rows[k] for k in sorted(rows)]


def format_table(lesson: str | None = None) -> str:
    """A plain-text table of progress per lesson (what ``python -m stacklab progress`` prints).

    ``lesson`` ("00".."14") limits the table to that lesson's row.
    """
    rows = lesson_summary()
    if lesson is not None:
        _require_lesson(lesson)
        rows = [r for r in rows if r["lesson"] == lesson]
    path = progress_path()
    if not rows and lesson is not None:
        return f"No progress recorded yet for lesson {lesson} (progress file: {path})."
    if not rows:
        return (
            f"No progress recorded yet (progress file: {path}).\n"
            "Start with notebooks/00_start_here.ipynb: run its cells, then the lab checks and the quiz at\n"
            "the end of each lesson record your progress here."
        )
    header = ("Lesson", "Checks passed", "Quiz best")
    body = []
    for r in rows:
        checks = f"{r['checks_passed']}/{r['checks_total_attempted']}" if r["checks_total_attempted"] else "-"
        if r["quiz_best_total"]:
            pct = round(100 * r["quiz_best_correct"] / r["quiz_best_total"])
            quiz = f"{r['quiz_best_correct']}/{r['quiz_best_total']} ({pct}%)"
        else:
            quiz = "-"
        body.append((r["lesson"], checks, quiz))
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(3)]

    def fmt(line: tuple[str, str, str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(line) for line in body]
    lines.append("")
    lines.append("Checks passed: checks that have passed at least once / checks attempted.")
    exams = load().get("exams", [])
    if exams and lesson is None:
        last = exams[-1]
        pct = round(100 * last["correct"] / last["total"])
        lines.append(f"Practice exams taken: {len(exams)}; last: {last['correct']}/{last['total']} ({pct}%).")
    lines.append(f"Progress file: {path}")
    return "\n".join(lines)


def reset_progress(confirm: bool = False) -> Path | None:
    """Move the progress file aside (never deleted) and return the backup's path.

    Requires ``confirm=True``. Returns None if there was no progress file.
    """
    require_bool("confirm", confirm)
    path = progress_path()
    if not confirm:
        raise InputError(
            f"Nothing was changed. To start your progress afresh, call reset_progress(confirm=True): "
            f"{path} is then renamed to a backup beside it (not deleted)."
        )
    with _lock:
        if not path.exists():
            return None
        backup = _unique(path.with_name(f"{path.name}.bak-{_stamp(_now())}"))
        try:
            os.replace(path, backup)
        except OSError as exc:
            raise StackLabError(f"Could not move {path} aside to {backup}: {exc}.") from exc
        return backup
