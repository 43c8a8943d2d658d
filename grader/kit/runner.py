"""Entry point of the child process: confine, then run the suites under pytest.

Started by the grader as ``python -I -B -c <bootstrap> CONFIG``; CONFIG is
JSON with the confinement plan, the staged submission, the data files, the
seed and the cases to run. Nothing in it is an expected value.
"""

import json
import os
import sys

from . import confine, wire

SUITES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suites")


def _pytest_args(config):
    from .plugin import node_id

    # no cases named: every case of every suite, in the order the grader lists the suites
    selected = [os.path.join(SUITES_DIR, node_id(case)) for case in config["cases"]] or [
        os.path.join(SUITES_DIR, f"test_{suite}.py") for suite in config["suites"]]
    return selected + [
        "-p", "no:terminal", "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:faulthandler",
        "-p", "pytest_jsonreport.plugin", "--json-report-file=none",
        "--noconftest", "-s", "--import-mode=importlib",
        "--rootdir", SUITES_DIR, "-c", os.path.join(SUITES_DIR, "pytest.ini"),
    ]


def _unreadable(paths):
    """The first interpreter or library path this process cannot read, if any."""
    import importlib.util

    for path in paths:
        try:
            os.listdir(path)
        except OSError as exc:
            return f"{path} ({exc.strerror})"
    for name in ("numpy", "pytest"):
        spec = importlib.util.find_spec(name)
        try:
            with open(spec.origin, "rb"):
                pass
        except (OSError, AttributeError) as exc:
            return f"the {name} package ({exc})"
    return None


def main():
    config = json.loads(sys.argv[-1])
    channel = config["channel_fd"]
    layers = {}

    def confined(error=None):
        wire.write_frame(channel, {"type": "confined", "layers": layers, **({"error": error} if error else {})})
        if error:
            os._exit(70)

    try:
        confine.apply(config["plan"], layers)
    except confine.ConfinementError as exc:
        confined(str(exc))
    sys.path[:] = config["sys_path"] + [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    if config["mode"] == "probe":
        unreadable = _unreadable(config["sys_path"])
        if unreadable:
            layer = "uid" if "uid" in layers else "filesystem_view" if "filesystem_view" in layers else "process"
            layers[layer] = f"failed: cannot read {unreadable}"
            confined(f"{layer}: cannot read {unreadable}")
    else:
        # Imported before the submission, so a submission's numpy.py or pytest.py can never shadow them.
        import numpy  # noqa: F401
        import pytest
        from pytest_jsonreport.plugin import JSONReport

        from . import harness
        from .plugin import GraderPlugin
    if config["plan"].get("seccomp"):
        try:
            confine.load_seccomp(os.getpid())
            layers["seccomp"] = "on"
        except (confine.ConfinementError, OSError) as exc:
            layers["seccomp"] = f"failed: {exc}"
            confined(f"seccomp: {exc}")
    confined()
    if config["mode"] == "probe":
        os._exit(0)
    harness.RUN = run = harness.Run(config, channel)
    # The submission's modules are imported before the first case, under the start-up
    # deadline: a case's timeout then measures only the case.
    harness.simple_ml()
    exit_code = pytest.main(_pytest_args(config), plugins=[JSONReport(), GraderPlugin()])
    harness.flush_output()
    run.send({"type": "done", "exitcode": int(exit_code)})
    # Skip interpreter teardown: atexit handlers are the submission's, not ours.
    os._exit(0)
