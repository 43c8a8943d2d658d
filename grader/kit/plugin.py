"""The pytest plugin of the child: it turns pytest's run of the suites into frames.

For each case the grader hears when it starts and ends, the values it
submits (see ``harness``), and, when a stage fails, its outcome, its crash
(pytest-json-report's: the exception's line and where it struck) and the path
and line of each frame of its traceback: the grader builds its feedback from
those, and never takes a verdict from them.
"""

import os

import pluggy
import pytest

from . import harness

MAX_LONGREPR = 16 * 1024
MAX_FRAMES = 20   # the outermost and innermost frames of a deep traceback: messages show a few of each
MAX_TEXT = 2000


# Frames of these packages are the runner's, never a case's or the student's (pytest cuts them too).
RUNNER_DIRS = tuple(os.path.dirname(package.__file__) + os.sep for package in (pytest, pluggy)) + (
    os.path.join(os.path.dirname(os.path.dirname(pytest.__file__)), "_pytest") + os.sep,)


def _bounded(stage, frames):
    """The parts of a report stage the grader uses, small enough for one frame.

    A RecursionError's traceback has thousands of frames: the outermost and
    innermost ones are kept, which is where the student's code is.
    """
    if len(frames) > MAX_FRAMES:
        frames = frames[:MAX_FRAMES // 2] + frames[-MAX_FRAMES // 2:]
    crash = dict(stage.get("crash") or {})
    if isinstance(crash.get("message"), str):
        crash["message"] = crash["message"][:MAX_TEXT]
    return {"outcome": stage.get("outcome"), "crash": crash,
            "traceback": [{"path": path[:MAX_TEXT], "lineno": lineno} for path, lineno in frames]}


def _traceback_frames(item, excinfo):
    """``(path, line)`` of each frame of a failure, from the case's own function on (all but the runner's
    when the case never started: a fixture's failure), deep ones spliced (see ``pytest_runtest_makereport``)."""
    frames, tb = [], excinfo.tb
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    test_code = getattr(getattr(item, "obj", None), "__code__", None)
    starts = [index for index, frame in enumerate(frames) if frame.tb_frame.f_code is test_code]
    outer = (starts[0] + MAX_FRAMES // 2) if starts else 2 * MAX_FRAMES - 1
    if len(frames) > outer + MAX_FRAMES:
        frames[outer - 1].tb_next = frames[-MAX_FRAMES // 2]
        excinfo.traceback = type(excinfo.traceback)(excinfo.tb)
        frames = frames[:outer] + frames[-MAX_FRAMES // 2:]
    if starts:
        frames = frames[starts[0]:]
    located = [(frame.tb_frame.f_code.co_filename, frame.tb_lineno) for frame in frames]
    return [(path, lineno) for path, lineno in located if not path.startswith(RUNNER_DIRS)]


def case_id(nodeid):
    """``test_forward.py::test_divide[2x3]`` -> ``forward::divide[2x3]``."""
    module, _, name = nodeid.partition("::")
    suite = os.path.basename(module)[len("test_"):-len(".py")]
    return f"{suite}::{name[len('test_'):]}"


def case_meta(item):
    marker = item.get_closest_marker("case")
    meta = dict(marker.kwargs) if marker else {}
    return {"checks": list(meta.get("checks", ())), "years": meta.get("years"),
            "advisory": bool(meta.get("advisory", False)),
            "weight": meta.get("weight", 1), "timeout": meta.get("timeout"), "hint": meta.get("hint"),
            "hint_on": list(meta.get("hint_on", ["timeout"]))}


class GraderPlugin:
    def __init__(self):
        self.checks = {}  # case -> the student functions it grades

    def pytest_addoption(self, parser):
        # pytest's terminal plugin is disabled so its output never mixes with the
        # student's; it is the one that normally owns --tb, which reports read.
        # "native" is the traceback module's text: pytest's own styles parse the
        # whole source file of every frame, 20-40 ms per failing case, for text
        # nobody reads (the frames sent are ``_traceback_frames``).
        parser.addoption("--tb", dest="tbstyle", default="native")

    def pytest_report_teststatus(self, report, config):
        # Normally the terminal plugin's; pytest-json-report reads the outcome from it.
        outcome = report.outcome
        if report.when in ("collect", "setup", "teardown") and outcome == "failed":
            outcome = "error"
        return outcome, outcome[:1].upper(), outcome.upper()

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "case(checks, years=None, advisory=False, weight=1, timeout=None, "
                                "hint=None, hint_on=('timeout',)): grading metadata. checks names the student "
                                "functions the case grades; years the handouts whose notebook puts it in this "
                                "question (all when None); an advisory checks more than the homework asks; "
                                "hint_on holds statuses or words of the message that the hint applies to")

    def pytest_collection_modifyitems(self, session, config, items):
        """Keep the cases named (all when none) of this handout year whose graded functions are the student's;
        say what each grades."""
        run = harness.RUN
        named = set(run.config["cases"])
        kept, dropped = [], []
        for item in items:
            meta = case_meta(item)
            if meta["checks"] and set(meta["checks"]) <= run.student.names \
                    and (meta["years"] is None or run.config["year"] in meta["years"]) \
                    and (not named or case_id(item.nodeid) in named):
                kept.append(item)
                self.checks[case_id(item.nodeid)] = meta["checks"]
            else:
                dropped.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
        run.student.install({name for checks in self.checks.values() for name in checks})
        run.student.watch()
        if run.reference:
            for item in kept:
                run.send({"type": "case", "case": case_id(item.nodeid), **case_meta(item)})

    def pytest_collectreport(self, report):
        if report.failed:
            harness.RUN.send({"type": "collect_error", "where": report.nodeid,
                              "text": str(report.longrepr)[-MAX_LONGREPR:]})

    def pytest_runtest_logstart(self, nodeid, location):
        run = harness.RUN
        run.case = case_id(nodeid)
        run.student.begin(self.checks.get(run.case, ()), run.case)
        harness.flush_output()   # what was printed between cases stays out of this one
        run.send({"type": "start", "case": run.case})

    def pytest_runtest_logfinish(self, nodeid, location):
        run = harness.RUN
        harness.flush_output()
        if run.student.raised:
            run.send({"type": "raised", "case": case_id(nodeid), "exceptions": run.student.raised})
        run.send({"type": "used", "case": case_id(nodeid), "functions": run.student.end()})
        run.send({"type": "end", "case": case_id(nodeid)})
        run.case = None

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        """Splice the middle out of a deep traceback before pytest renders it, and keep its frames.

        A RecursionError has a thousand frames; only the outer and inner ones are
        ever sent (see ``_bounded``). The exception's own chain of frames is
        shortened, since pytest rebuilds its traceback from that chain.
        """
        frames = _traceback_frames(item, call.excinfo) if call.excinfo is not None else []
        outcome = yield
        outcome.get_result().grader_frames = frames

    @pytest.hookimpl(hookwrapper=True)
    def pytest_json_runtest_stage(self, report):
        outcome = yield
        stage = outcome.get_result()
        if report.outcome != "passed" and isinstance(stage, dict):
            harness.RUN.send({"type": "stage", "case": case_id(report.nodeid), "when": report.when,
                              "stage": _bounded(stage, getattr(report, "grader_frames", []))})
