"""`python -m stacklab ...` commands and the notebook runner behind `make timings`."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from stacklab import cli
from stacklab.errors import InputError
from stacklab.notebook_runner import ROOT, course_notebooks, run_notebook, timings_report


def test_doctor_reports_tools_and_a_working_sandbox(capsys):
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert "sandbox     OK: account 123456789012" in out
    assert code == (0 if "MISSING" not in out else 1)


def test_progress_prints_a_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "p.json"))
    assert cli.main(["progress"]) == 0
    assert "No progress recorded yet" in capsys.readouterr().out
    from stacklab import progress

    progress.record_check("01.vpc", "01", True)
    assert cli.main(["progress", "--lesson", "01"]) == 0
    assert "1/1" in capsys.readouterr().out


def test_reset_needs_yes_and_keeps_a_backup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "p.json"))
    from stacklab import progress

    progress.record_check("01.vpc", "01", True)
    assert cli.main(["reset"]) == 1
    assert (tmp_path / "p.json").exists()
    assert cli.main(["reset", "--yes"]) == 0
    assert "kept at" in capsys.readouterr().out
    assert not (tmp_path / "p.json").exists() and list(tmp_path.glob("p.json.bak-*"))


def test_student_labs_check_reports_current_copies(capsys):
    assert cli.main(["student-labs", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as exc:
        cli.main(["fly"])
    assert exc.value.code == 2


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "stacklab", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "timings" in done.stdout


@pytest.fixture()
def tiny_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nprint(x)"), nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_run_notebook_collects_errors_and_times(tiny_notebook):
    result = run_notebook(tiny_notebook, times=2)
    assert [c.run for c in result.cells] == [1, 1, 2, 2]
    assert any("ZeroDivisionError" in e for e in result.errors)
    report = timings_report([tiny_notebook], slowest=2)
    assert "tiny.ipynb" in report and "slowest 2 cells" in report


def test_runner_rejects_bad_input(tmp_path):
    with pytest.raises(InputError, match="not a notebook"):
        run_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(InputError):
        timings_report([], slowest=0)


def test_course_notebooks_are_in_syllabus_order():
    names = [p.name for p in course_notebooks()]
    assert names[:2] == ["00_start_here.ipynb", "01_serverless_vs_three_tier.ipynb"]
    assert "01_serverless_vs_three_tier_lab.ipynb" in names
