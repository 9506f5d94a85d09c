"""Test-wide settings: learners' own progress file is never touched by the test suite."""

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="stacklab-test-")
os.environ["STACKLAB_PROGRESS"] = os.path.join(_TMP, "progress.json")
os.environ.setdefault("MPLBACKEND", "Agg")
