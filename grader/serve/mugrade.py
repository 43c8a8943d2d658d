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


RECORDER = '''"""A stand-in for the course's mugrade client that records what each submit_* test submits, and why
any test failed or any test file could not be collected."""
import datetime, json, os, sys, types
import numpy
_values, _failed, _current = {}, {}, [None]

try:     # the course's test files import numdifftools at the top, for test_* functions never run here
    import numdifftools  # noqa: F401
except ImportError:
    def _gradient(function, step=1e-6, **options):
        """A plain central difference, in case a submit_* test asks for one."""
        def gradient(x):
            x = numpy.asarray(x, dtype=numpy.float64)
            out = numpy.zeros(x.size)
            for index in range(x.size):
                shift = numpy.zeros(x.size)
                shift[index] = step
                out[index] = (numpy.sum(function((x.reshape(-1) + shift).reshape(x.shape)))
                              - numpy.sum(function((x.reshape(-1) - shift).reshape(x.shape)))) / (2 * step)
            return out.reshape(x.shape) if x.ndim else out[0]
        return gradient
    sys.modules["numdifftools"] = types.SimpleNamespace(Gradient=_gradient, __name__="numdifftools")

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

def _problem(name):
    return name[len("submit_"):] if name.startswith("submit_") else name

def _why(report):
    """The whole reason: pytest's E lines (the exception and its message), else the report's last line."""
    text = str(report.longrepr)
    lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return " ".join(lines) or text.strip().splitlines()[-1]

def pytest_runtest_setup(item):
    _current[0] = _problem(item.name)

def pytest_runtest_logreport(report):
    if report.failed:
        _failed.setdefault(_problem(report.nodeid.split("::")[-1]), _why(report))

def pytest_collectreport(report):
    if report.failed:
        _failed.setdefault(report.nodeid or "the tests", "cannot be collected: " + _why(report))

def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["MUGRADE_RECORD"], "w") as handle:
        json.dump({"values": _values, "failed": _failed, "exitstatus": int(exitstatus)}, handle)
'''


def run_course_tests(solution_dir, tests_dir, timeout=1800):
    """Run the course's ``submit_*`` tests on a solution: ``({problem: [encoded values]}, {problem: why not})``.

    ``tests_dir`` is the course's tests folder, or its repository root holding
    ``tests/`` (and ``data/``, which the softmax and epoch tests read). A
    problem whose test fails on the solution (its data missing, say) is left
    out with the whole reason, and so is a test file that cannot be
    collected; every other problem's values are returned. The course's test
    files import numdifftools for their own checks: where it is not
    installed, a stand-in takes its place (``RECORDER``), so the service's
    packages alone suffice.
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
        paths = [work, os.path.join(work, "python"), os.path.join(work, "apps"), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "MUGRADE_RECORD": record, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
        done = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "mugrade", "-p",
                               "no:cacheprovider", "--continue-on-collection-errors", "-o", "python_functions=submit_*",
                               "-o", "python_files=*.py"],
                              cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
        try:
            with open(record) as handle:
                recorded = json.load(handle)
        except (OSError, ValueError):
            output = " ".join((done.stdout + done.stderr).split())
            raise ServiceError(f"the course's tests did not run: {output}") from None
    failed = recorded["failed"]
    values = {problem: problem_values for problem, problem_values in recorded["values"].items()
              if problem not in failed}
    if not values:
        reasons = "; ".join(f"{problem}: {why}" for problem, why in failed.items()) or "no submit_* test ran"
        raise ServiceError(f"the course's tests published nothing: {reasons}")
    return values, failed


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
