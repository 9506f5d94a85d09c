"""``python -m stacklab doctor | reset | diagrams | progress | student-labs | handout | timings``."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence


def _doctor() -> int:
    import boto3
    import moto

    problems = 0
    print(f"Python      {sys.version.split()[0]} ({sys.executable})")
    print(f"boto3       {boto3.__version__}")
    print(f"moto        {moto.__version__}")
    for program, why in (("dot", "Graphviz draws the architecture diagrams"), ("aws", "the AWS CLI cells")):
        where = shutil.which(program)
        print(f"{program:<11} {where or 'MISSING'}")
        if not where:
            problems += 1
            print(f"            {why}: run `make lab` (it installs what is missing).")
    import stacklab

    box = stacklab.start()
    buckets = stacklab.client("s3").list_buckets()["Buckets"]
    print(f"sandbox     OK: account {box.account_id}, {len(buckets)} buckets, network loopback-only")
    stacklab.stop()
    print("All good." if not problems else f"{problems} problem(s) found.")
    return 1 if problems else 0


def _progress(lesson: str | None) -> int:
    from stacklab import progress

    print(progress.format_table(lesson))
    return 0


def _diagrams() -> int:
    from stacklab import diagrams

    for path in diagrams.render_all():
        print(path)
    return 0


def _student_labs(check: bool) -> int:
    from stacklab import student_labs

    touched = student_labs.generate(check_only=check)
    for path in touched:
        print(("stale: " if check else "wrote: ") + str(path))
    if check and touched:
        print("Learner copies are out of date: run `python -m stacklab student-labs`.")
        return 1
    if not touched:
        print("Learner copies are up to date.")
    return 0


def _handout(dest: str) -> int:
    from stacklab.handout import write_handout

    written = write_handout(dest)
    print(f"Wrote the learner handout ({len(written)} items, no lab solutions) to {written[0].parent}.")
    print("Learners run `make lab` in it; see instructors/README.md for JupyterHub and Binder.")
    return 0


def _timings() -> int:
    from stacklab.notebook_runner import timings_report

    print(timings_report())
    return 0


def _reset_progress(confirm: bool) -> int:
    from stacklab import progress

    if not confirm:
        print("This moves your progress file aside (it is kept as a backup). Add --yes to do it.")
        return 1
    backup = progress.reset_progress(confirm=True)
    print(f"Progress reset; the old file is kept at {backup}." if backup else "There was no progress to reset.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m stacklab``."""
    parser = argparse.ArgumentParser(prog="python -m stacklab", description="Serverless Full-Stack, hands-on")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that the course's tools are installed and the sandbox starts")
    prog = sub.add_parser("progress", help="print your completed checks and quiz scores per lesson")
    prog.add_argument("--lesson", help="only this lesson, e.g. 01")
    reset = sub.add_parser("reset", help="start your progress again (the old file is kept as a backup)")
    reset.add_argument("--yes", action="store_true", help="really do it")
    sub.add_parser("diagrams", help="regenerate the architecture diagrams in diagrams/")
    labs = sub.add_parser("student-labs", help="regenerate the learner copies of the labs")
    labs.add_argument("--check", action="store_true", help="only report stale copies (exit 1 if any)")
    handout = sub.add_parser("handout", help="copy the course for learners, without the lab solutions")
    handout.add_argument("dest", help="a new or empty directory outside the repository")
    sub.add_parser("timings", help="run every notebook and print seconds per notebook and the slowest cells")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return _doctor()
    if args.command == "progress":
        return _progress(args.lesson)
    if args.command == "reset":
        return _reset_progress(args.yes)
    if args.command == "diagrams":
        return _diagrams()
    if args.command == "student-labs":
        return _student_labs(args.check)
    if args.command == "handout":
        return _handout(args.dest)
    return _timings()
