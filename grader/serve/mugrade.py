"""The course's own submission protocol (mugrade), so its notebooks can submit here unchanged.

A notebook's ``python3 -m mugrade submit KEY hw1 -k forward`` runs the
course's ``submit_*`` tests on the student's machine and sends each value
they compute; an instructor's ``publish`` run sends the reference's values
first. Set ``MUGRADE_SERVER`` to ``https://HOST/mugrade`` and the client
talks to this service: ``user_key`` is the person's token.

Values arrive as the client encodes them: JSON, with numpy arrays as
``{"_encoded_type": "np.ndarray", "data": nested lists}``. They are compared
as the published evidence says the course's server does: dicts by their keys
and then their values, lists by length and then element by element, arrays
by shape and then ``numpy.allclose`` (atol 1e-8), numbers by
``numpy.allclose``, anything else by equality. NaN and Infinity tokens,
malformed JSON and anything past ``MAX_DEPTH`` are refused with a 4xx.

What is recorded is "values submitted": the student's machine computed
them, so they stay apart from the code the sandbox graded.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from . import ServiceError

ASSIGNMENT = "hw1"
ARRAY = "np.ndarray"
MAX_DEPTH = 64
MAX_STORED_VALUE = 64 * 1024     # characters of a submitted value kept beside its verdict
ATOL = 1e-8


class BadValue(ValueError):
    """A body that is not a value the protocol sends; the message says why."""


def _no_constants(name):
    raise BadValue(f"{name} is not a number JSON allows: the value cannot be compared")


def decode(body):
    """The value in a request body, arrays as float arrays; raises BadValue for anything else."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_no_constants)
    except BadValue:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadValue(f"the body is not JSON ({exc})") from None
    except RecursionError:
        raise BadValue("the value is nested too deeply") from None
    return arrays(value, 0)


def arrays(value, depth=0):
    """``value`` (decoded JSON) with its encoded arrays as float arrays; raises BadValue past ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise BadValue(f"the value is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        if value.get("_encoded_type") == ARRAY and "data" in value:
            try:
                return np.asarray(value["data"], dtype=np.float64)
            except (ValueError, TypeError):
                return {"_encoded_type": ARRAY, "data": value["data"]}   # ragged: compared as given
        return {key: arrays(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [arrays(item, depth + 1) for item in value]
    return value


def matches(expected, got):
    """Whether a submitted value matches the published one (the rules in the module's docstring)."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        try:
            expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
        except (ValueError, TypeError):
            return False
        return expected.shape == got.shape and bool(np.allclose(got, expected, atol=ATOL))
    if isinstance(expected, dict):
        return isinstance(got, dict) and expected.keys() == got.keys() and all(
            matches(expected[key], got[key]) for key in expected)
    if isinstance(expected, list):
        return isinstance(got, list) and len(expected) == len(got) and all(
            matches(item, other) for item, other in zip(expected, got))
    if _number(expected) and _number(got):
        return bool(np.allclose(got, expected))
    return type(expected) is type(got) and expected == got


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def stored(body):
    """A submitted value as kept beside its verdict: its text, cut at MAX_STORED_VALUE."""
    text = body.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_STORED_VALUE else text[:MAX_STORED_VALUE] + " [...]"


RECORDER = '''"""A stand-in for the course's mugrade client that records what each submit_* test submits."""
import datetime, json, os
import numpy
_values, _current = {}, [None]

def _encode(value):
    if isinstance(value, numpy.ndarray):
        return {"_encoded_type": "np.ndarray", "data": value.tolist()}
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return {"_encoded_type": "datetime", "data": value.isoformat()}
    if isinstance(value, (type, numpy.dtype)):
        return {"_encoded_type": "type", "data": repr(value)}
    if hasattr(value, "numpy") and callable(value.numpy):
        return _encode(value.numpy())
    return value

def submit(value):
    _values.setdefault(_current[0], []).append(_encode(value))

def pytest_runtest_setup(item):
    _current[0] = item.name[len("submit_"):] if item.name.startswith("submit_") else item.name

def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["MUGRADE_RECORD"], "w") as handle:
        json.dump({"values": _values, "exitstatus": int(exitstatus)}, handle)
'''


def run_course_tests(solution_dir, tests_dir, timeout=1800):
    """Run the course's ``submit_*`` tests on a solution; ``{problem: [encoded values]}``.

    ``tests_dir`` is the course's tests folder, or its repository root holding
    ``tests/`` (and ``data/``, which the softmax and epoch tests read).
    """
    root = tests_dir if os.path.isdir(os.path.join(tests_dir, "tests")) else os.path.dirname(
        os.path.abspath(tests_dir))
    tests = os.path.join(root, "tests") if os.path.isdir(os.path.join(root, "tests")) else tests_dir
    if not os.path.isdir(tests) or not any(name.endswith(".py") for name in os.listdir(tests)):
        raise ServiceError(f"{tests_dir}: no course tests (test_*.py files with submit_* functions) in it")
    with tempfile.TemporaryDirectory(prefix="needle-grader-mugrade-") as work:
        shutil.copytree(solution_dir, work, dirs_exist_ok=True)
        shutil.copytree(tests, os.path.join(work, "tests"), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "conftest.py"))
        if os.path.isdir(os.path.join(root, "data")):
            os.symlink(os.path.abspath(os.path.join(root, "data")), os.path.join(work, "data"))
        with open(os.path.join(work, "mugrade.py"), "w") as handle:
            handle.write(RECORDER)
        record = os.path.join(work, "record.json")
        env = {**os.environ, "MUGRADE_RECORD": record, "PYTHONPATH": os.pathsep.join(
            [work, os.path.join(work, "python"), os.path.join(work, "apps")])}
        done = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "mugrade", "-p",
                               "no:cacheprovider", "-o", "python_functions=submit_*", "-o", "python_files=*.py"],
                              cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        try:
            with open(record) as handle:
                recorded = json.load(handle)
        except (OSError, ValueError):
            raise ServiceError(f"the course's tests did not run: {(done.stdout + done.stderr).strip()[-600:]}") \
                from None
    if recorded["exitstatus"] not in (0, 1) or not recorded["values"]:
        raise ServiceError(f"the course's tests submitted nothing: {done.stdout.strip()[-600:]}")
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if failed:
        raise ServiceError("the reference solution fails the course's tests, so nothing is published: "
                           + "; ".join(failed[:5]))
    return recorded["values"]


def save_published(session, assignment, problem, values, person_id=None):
    """Store (or replace) a problem's published values."""
    from sqlalchemy import select

    from .models import MugradeProblem, now

    record = session.scalars(select(MugradeProblem).where(MugradeProblem.assignment == assignment,
                                                          MugradeProblem.problem == problem)).first()
    if record is None:
        record = MugradeProblem(assignment=assignment, problem=problem)
        session.add(record)
    record.values, record.published_at, record.published_by = json.dumps(values), now(), person_id
