"""The learner handout: the course without lab solutions, tests or CI."""

from __future__ import annotations

import pytest

from stacklab.cli import main
from stacklab.errors import InputError
from stacklab.handout import write_handout
from stacklab.notebook_runner import ROOT


def test_handout_has_lessons_and_learner_labs_but_no_solutions(tmp_path, capsys):
    dest = tmp_path / "handout"
    assert main(["handout", str(dest)]) == 0
    assert "no lab solutions" in capsys.readouterr().out
    assert (dest / "notebooks" / "00_start_here.ipynb").is_file()
    learner = sorted(p.name for p in (dest / "labs").glob("*_lab.ipynb"))
    assert learner and learner == sorted(p.name for p in (ROOT / "labs").glob("*_lab.ipynb"))
    assert not (dest / "labs" / "solutions").exists()
    assert not (dest / "tests").exists() and not (dest / ".ci").exists() and not (dest / "instructors").exists()
    assert (dest / "Makefile").is_file() and (dest / "tools" / "setup.sh").is_file()
    assert not any("### BEGIN SOLUTION" in p.read_text() for p in dest.rglob("*.ipynb"))
    assert not list(dest.rglob("__pycache__"))


@pytest.mark.parametrize("where", ["inside", "file", "full", ""])
def test_handout_refuses_bad_destinations(tmp_path, where):
    if where == "inside":
        dest = ROOT / "handout-here"
    elif where == "file":
        dest = tmp_path / "x.txt"
        dest.write_text("x")
    elif where == "full":
        dest = tmp_path / "full"
        dest.mkdir()
        (dest / "keep.txt").write_text("mine")
    else:
        dest = ""
    with pytest.raises(InputError):
        write_handout(dest)
    if where == "full":
        assert (dest / "keep.txt").read_text() == "mine"
