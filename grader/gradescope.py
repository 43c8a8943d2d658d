"""Gradescope: an autograder bundle, and results in Gradescope's format.

The bundle is a zip that Gradescope unpacks into ``/autograder/source``:
``setup.sh`` installs the grader from the bundled sources once, and
``run_autograder`` grades ``/autograder/submission`` for each student and
writes ``/autograder/results/results.json``. The reference values go inside
the bundle, so the grader never recomputes them there (unless Gradescope's
numpy draws other random numbers, which the fingerprint notices).
"""

import os
import pathlib
import shutil
import stat
import tempfile
import zipfile

from . import results, scores

PACKAGE_FILES = ("pyproject.toml", "README.md")
PACKAGES = ("grader", "needle")
QUESTION_NUMBERS = {suite: index for index, suite in enumerate(scores.SUITE_POINTS, 1)}

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip python3-venv >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet /autograder/source/needle-grader
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: the upload is in $ROOT/submission,
# and $ROOT/results/results.json is what the student sees.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
HERE="$(cd "$(dirname "$0")" && pwd)"
export NEEDLE_GRADER_REFERENCE="$HERE/reference"
exec ${{NEEDLE_GRADER_COMMAND:-$ROOT/venv/bin/grader}} gradescope run --root "$ROOT" --seed {seed}{data}
"""


def results_json(result):
    """A needle-grader result as Gradescope's results.json: one test per case, advisories at 0 points."""
    tests = []
    for suite in result["suites"]:
        question = QUESTION_NUMBERS[suite["name"]]
        for number, case in enumerate(suite["cases"], 1):
            advisory = case.get("advisory") and case["max_score"] == 0
            tests.append({
                "name": f"{suite['name']}: {case['name']}" + (" (a tip: checks beyond the homework, no points)"
                                                               if advisory else ""),
                "number": f"{question}.{number}",
                "score": case["score"],
                "max_score": case["max_score"],
                "status": "passed" if case["status"] == "passed" else "failed",
                "output": case["message"] or "passed",
                "visibility": "visible",
            })
    notes = [f"Graded as the course's {result['handout']} handout, with needle-grader {result['environment']['grader']}."]
    warning = result.get("detection", {}).get("warning")
    if warning:   # the terminal's warning line: Gradescope shows the student only this output
        notes.append(f"Warning: {warning}. If you started from another year's handout, "
                     "ask your instructor to regrade it as that year.")
    notes += result.get("notes", [])
    return {"score": result["score"], "execution_time": result["duration_s"], "output": "\n".join(notes),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def failure_json(error):
    """What a student sees when their upload could not be graded at all."""
    return {"score": 0.0, "output": f"Your submission could not be graded: {error}", "visibility": "visible",
            "tests": []}


def submission_path(root):
    """The upload: the submission folder itself, or the one archive in it."""
    folder = os.path.join(root, "submission")
    entries = [name for name in os.listdir(folder) if not name.startswith(".")] if os.path.isdir(folder) else []
    archives = [name for name in entries if name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))]
    if len(entries) == 1 and len(archives) == 1:
        return os.path.join(folder, archives[0])
    return folder


def write_results(root, data):
    results.write_atomic(os.path.join(root, "results", "results.json"), data)


def build(out_path, repository, published, data_dir=None, seed=0):
    """Write the bundle: the grader's sources, the references of every year, the data if given, the scripts."""
    out_path = pathlib.Path(out_path)
    with tempfile.TemporaryDirectory() as folder:
        staging = pathlib.Path(folder)
        source = staging / "needle-grader"
        source.mkdir()
        for name in PACKAGE_FILES:
            shutil.copy2(repository / name, source / name)
        for package in PACKAGES:
            shutil.copytree(repository / package, source / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copytree(published, staging / "reference")
        data_flag = ""
        if data_dir:
            shutil.copytree(data_dir, staging / "data")
            data_flag = ' --data "$HERE/data"'
        _script(staging / "setup.sh", SETUP)
        _script(staging / "run_autograder", RUN.format(seed=int(seed), data=data_flag))
        out_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = out_path.with_name(f".{out_path.name}.tmp")
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo.from_file(path, path.relative_to(staging).as_posix())
                    with open(path, "rb") as handle:
                        archive.writestr(info, handle.read(), zipfile.ZIP_DEFLATED)
        os.replace(temporary, out_path)
    return out_path


def _script(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
