"""The student kit: built, installed where no grader is, checking as the grader does, holding no solution.

The kit is built once for this module with a seed that is not the published one, so the
build computes that seed's values. It is installed into a fresh virtual environment where
neither needle-grader nor needle can be imported (``kits.installed``).
"""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest

from grader import handout, results, student_kit, years
from kits import installed, student_env

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 3  # not the published seed 0: the kit's values are computed at build time
YEAR = "2022"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit")
    completed = subprocess.run([sys.executable, "-m", "grader", "student-kit", str(out), "--year", YEAR,
                                "--seed", str(SEED)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"wrote {out / student_kit.wheel_name()}: ")
    return out / student_kit.wheel_name()


@pytest.fixture(scope="module")
def kit_env(wheel):
    """``(python, needle-check)`` of a fresh virtual environment holding the kit and its dependencies alone."""
    folder, python, command = installed(wheel)
    yield python, command
    shutil.rmtree(folder)


def needle_check(kit_env, *args):
    return subprocess.run([kit_env[1], *args], cwd=REPO_ROOT, env=student_env(), capture_output=True, text=True,
                          timeout=300)


def test_the_kit_installs_where_neither_grader_nor_needle_can_be_imported(kit_env):
    python, command = kit_env
    for module in ("grader", "needle", "needle_check.reference_run"):
        completed = subprocess.run([python, "-c", f"import {module}"], cwd=python.parent, env=student_env(),
                                   capture_output=True, text=True)
        assert f"No module named '{module}'" in completed.stderr, completed.stderr
    version = subprocess.run([command, "--version"], capture_output=True, text=True)
    assert version.stdout == f"needle-check {student_kit.__version__}: checks the {YEAR} handout with the inputs of " \
                             f"seed {SEED}\n"


def test_a_correct_submission_scores_100(kit_env):
    completed = needle_check(kit_env, "submissions/alice")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("alice: 100 / 100\n  handout: 2022\n")


def test_a_buggy_submission_gets_the_graders_verdicts_and_scores(kit_env, grading_session):
    completed = needle_check(kit_env, "-v", "submissions/bob")
    assert completed.returncode == 0, completed.stderr
    session = grading_session(seed=SEED)   # what `grader run --seed 3 --year 2022 --json` returns
    result = session.grade(session.stage(str(REPO_ROOT / "submissions" / "bob"), year=YEAR))
    # line for line what `grader check -v --seed 3 --year 2022` prints of that result: every case's status
    # (-v lists the passed ones too), every question's score, the total
    assert completed.stdout == click.unstyle(results.render(result, verbose=True, student=True)) + "\n"
    cases = [case for suite in result["suites"] for case in suite["cases"]]
    marks = re.findall(r"^    (ok|FAIL|ERROR|TIMEOUT|TIP) ", completed.stdout, re.M)
    assert len(marks) == len(cases) == 96
    assert len(cases) - marks.count("ok") == sum(case["status"] != "passed" for case in cases) == 33  # bob's


@pytest.mark.parametrize("args, says", [
    (["--seed", "0"], f"this kit holds the expected values of seed {SEED} only and cannot check with --seed 0: "
                      "only your instructor's grader can draw fresh inputs"),
    (["--year", "2024"], "this kit was built for the 2022 handout and cannot check a 2024 one (--year 2022 if your "
                         "files are 2022's; else ask your instructor for the 2024 kit)"),
    (["--data", "DATA"], "this kit holds the expected values for its own generated data only and cannot check with "
                         "--data or $NEEDLE_GRADER_DATA"),
], ids=["seed", "year", "data"])
def test_what_the_kit_cannot_do_it_says_in_one_line(kit_env, args, says, tmp_path):
    if "DATA" in args:
        from grader.kit import idx

        idx.generate_mnist_like(tmp_path, n=100, seed=1)
        args = [str(tmp_path) if arg == "DATA" else arg for arg in args]
    completed = needle_check(kit_env, *args, "submissions/alice")
    assert (completed.returncode, completed.stdout, completed.stderr) == (2, "", f"needle-check: error: {says}\n")


def test_the_kit_also_submits_as_grader_submit_does_and_says_in_one_line_what_went_wrong(kit_env, tmp_path):
    python, command = kit_env
    usage = subprocess.run([command, "--help"], capture_output=True, text=True).stdout
    assert "check   Check your homework before you hand it in" in usage
    assert "submit  Submit your homework at PATH to your course's server" in usage
    assert "--token TEXT   Your token [env: NEEDLE_GRADER_TOKEN]." in subprocess.run(
        [command, "submit", "--help"], capture_output=True, text=True).stdout
    homework = tmp_path / "hw1"
    shutil.copytree(REPO_ROOT / "submissions" / "alice", homework)
    (homework / "hw1.ipynb").write_text("{}\n")
    (homework / "data").mkdir()
    completed = subprocess.run([command, "submit", str(homework), "--server", "http://127.0.0.1:9"],
                               env=dict(student_env(), NEEDLE_GRADER_TOKEN="ng-x"), capture_output=True, text=True)
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.splitlines() == [
        "not sent, as the grader reads only python/ and apps/: data/, hw1.ipynb",
        "needle-check: error: cannot reach http://127.0.0.1:9: [Errno 111] Connection refused"]


def test_the_kit_checks_its_values_fit_its_own_suites(kit_env):
    python, _ = kit_env
    suite = Path(subprocess.check_output([python, "-c", "import needle_check.kit.suites as s; print(s.__path__[0])"],
                                         text=True).strip()) / "test_forward.py"
    original = suite.read_bytes()
    try:
        suite.write_bytes(original + b"# edited after the kit was built\n")
        completed = needle_check(kit_env, "submissions/alice")
    finally:
        suite.write_bytes(original)
    assert completed.returncode == 2
    assert completed.stderr.startswith("needle-check: error: this kit cannot check here: the suites differ from "
                                       "those its expected values were made with (numpy ")


def _words(line):
    return re.findall(r"\w+|[^\w\s]", line)


def test_the_wheel_holds_no_line_of_the_solution(wheel):
    """Every line of needle/'s solution blocks that no starter has, bar the shortest (fewer than five words
    and signs, as ``return a @ b``, which say nothing), appears in no file of the wheel."""
    starters = {line.strip() for year in years.YEARS for text in years.course_sources(year).values()
                for line in text.splitlines()}
    solution = {}
    for path in sorted((REPO_ROOT / "needle").glob("*.py")):
        for block in handout.find_solution_blocks(path.read_text(), path.name):
            for line in block.text.splitlines():
                if len(_words(line)) >= 5 and line.strip() not in starters:
                    solution[line.strip()] = f"needle/{path.name} {block.function}"
    assert len(solution) > 100

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert not [name for name in names if name.startswith("needle/") or name.endswith("reference_run.py")]
        found = []
        for name in names:
            data = archive.read(name)
            texts = [data.decode("utf-8", errors="replace")]
            if name.endswith(".json"):
                texts += list(_strings(json.loads(data)))
            lines = {line.strip() for text in texts for line in text.splitlines()}
            found += [f"{name}: {line!r} (from {where})" for line, where in solution.items() if line in lines]
    assert not found


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_the_kit_declares_the_graders_own_dependency_pins():
    pinned = (REPO_ROOT / "pyproject.toml").read_text()
    assert all(f'"{dependency}"' in pinned for dependency in student_kit.DEPENDENCIES)
