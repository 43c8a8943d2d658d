"""The same submissions and seed give the same verdicts and scores: with one job or several, with children
forked from a template or exec'd, on every Python.

Across Python versions the comparison happens through a folder the tox
environments share ($NEEDLE_GRADER_DETERMINISM_DIR, which tox.ini sets): each
environment leaves its verdicts there and compares them with those the
others left, for the same grader and the same inputs.
"""

import hashlib
import json
import os
import platform
import re
import tempfile
from pathlib import Path

import pytest

from corpus import generated_with
from grader import batch, grading, years

REPO_ROOT = Path(__file__).resolve().parent.parent


def verdicts(outcomes):
    """Per submission: the handout, the total, and each case's status, score and message.

    The figures in a message are left out: numpy's releases differ in the last
    bits of exp or a product, and the environments of one tox run need not
    get the same release.
    """
    return {outcome.name: {"handout": outcome.result["handout"], "score": outcome.result["score"],
                           "cases": {f"{suite['name']}::{case['name']}": [case["status"], case["score"],
                                                                          re.sub(r"[-+]?[\d.]+(e[-+]?\d+)?", "#",
                                                                                 case["message"])]
                                     for suite in outcome.result["suites"] for case in suite["cases"]}}
            for outcome in outcomes}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism")
    years.write_handout(folder / "solution-2024", with_solutions=True, year="2024")
    buggy = generated_with(folder / "buggy-2025", "2025",
                           {"EWisePow.gradient": "a, b = node.inputs\nreturn out_grad * b, out_grad"})
    paths = [str(REPO_ROOT / "submissions" / name) for name in ("alice", "bob", "carol", "dave")]
    paths += [str(folder / "solution-2024"), str(buggy)]
    with grading.Session(template=True) as session:   # two jobs forking their children from one template
        yield paths, verdicts(batch.Batch(session, paths, jobs=2).run())


def test_one_job_and_two_forked_and_exec_d_give_the_same_verdicts(graded):
    paths, two = graded
    with grading.Session(template=False) as session:   # one job, each child exec'd
        one = verdicts(batch.Batch(session, paths, jobs=1).run())
    assert one == two
    assert {name: entry["score"] for name, entry in one.items()}["bob"] == 54.8506


def _inputs_digest():
    digest = hashlib.sha256()
    for path in sorted([*(REPO_ROOT / "grader").rglob("*.py"), *(REPO_ROOT / "needle").rglob("*.py"),
                        *(REPO_ROOT / "submissions").rglob("*.py")]):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_every_python_gives_the_same_verdicts(graded):
    shared = os.environ.get("NEEDLE_GRADER_DETERMINISM_DIR")
    if not shared:
        pytest.skip("no NEEDLE_GRADER_DETERMINISM_DIR: tox sets one that its environments share")
    folder = Path(shared)
    folder.mkdir(parents=True, exist_ok=True)
    mine = {"inputs": _inputs_digest(), "python": platform.python_version(), "verdicts": graded[1]}
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as handle:
        json.dump(mine, handle)
    os.replace(handle.name, folder / f"python-{platform.python_version()}.json")
    compared = []
    for path in sorted(folder.glob("python-*.json")):
        other = json.loads(path.read_text())
        if other["inputs"] != mine["inputs"] or other["python"] == mine["python"]:
            continue   # another version of the grader, or this run itself
        assert other["verdicts"] == json.loads(json.dumps(mine["verdicts"])), (mine["python"], other["python"])
        compared.append(other["python"])
    print(f"Python {mine['python']} compared with {compared or 'none yet'}")
