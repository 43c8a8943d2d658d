"""Gradescope: results in its format, and the autograder bundle run as Gradescope runs it."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import results

REPO_ROOT = Path(__file__).resolve().parent.parent


def grader(*args, env=None):
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def test_format_gradescope_writes_its_results_json(tmp_path, unbalanced_sums):
    out = tmp_path / "results.json"
    completed = grader("run", "submissions/bob", "--format", "gradescope", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    data = json.loads(out.read_text())
    results.validate(data, results.GRADESCOPE_SCHEMA_PATH)
    assert data["score"] == 54.8506
    assert unbalanced_sums(data) == []
    assert sum(test["max_score"] for test in data["tests"]) == pytest.approx(100.0, abs=1e-6)
    tests = {test["name"]: test for test in data["tests"]}
    deep = tests["topo_sort: deep_chain (a tip: checks beyond the homework, no points)"]
    assert (deep["number"], deep["status"], deep["score"], deep["max_score"]) == ("3.8", "failed", 0, 0)
    assert deep["output"].startswith("RecursionError")
    assert tests["forward: negate"]["status"] == "passed" and tests["forward: negate"]["number"].startswith("1.")
    assert data["output"].startswith("Graded as the course's 2022 handout")


def _autograder(tmp_path, upload):
    """The bundle unpacked as Gradescope does, with ``upload`` as the student's submission."""
    bundle = tmp_path / "autograder.zip"
    completed = grader("gradescope", "build", str(bundle))
    assert completed.returncode == 0, completed.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        names = archive.namelist()
    assert {"setup.sh", "run_autograder", "needle-grader/pyproject.toml", "needle-grader/grader/cli.py",
            "reference/2022/values.npz", "reference/2025/manifest.json"} <= set(names)
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)   # zip keeps no modes on extraction
    upload(root / "submission")
    (root / "results").mkdir()
    # setup.sh would install the bundled grader into a venv; here it is already installed
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), NEEDLE_GRADER_COMMAND=f"{sys.executable} -m grader")
    completed = subprocess.run([str(root / "source" / "run_autograder")], cwd=tmp_path, capture_output=True,
                               text=True, timeout=600, env=env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    results.validate(data, results.GRADESCOPE_SCHEMA_PATH)
    return data


def test_the_bundle_grades_a_submission_with_its_own_reference_values(tmp_path):
    data = _autograder(tmp_path, lambda folder: shutil.copytree(REPO_ROOT / "submissions" / "alice", folder))
    assert data["score"] == 100.0 and len(data["tests"]) == 96
    assert "recomputed" not in data["output"] and "stale" not in data["output"]


def test_an_upload_that_cannot_be_graded_says_why(tmp_path):
    def corrupt(folder):
        folder.mkdir()
        (folder / "hw1.zip").write_bytes(b"this is not a zip")

    data = _autograder(tmp_path, corrupt)
    assert data["score"] == 0 and data["tests"] == []
    assert data["output"].startswith("Your submission could not be graded: ") and "not a readable zip" in data["output"]
