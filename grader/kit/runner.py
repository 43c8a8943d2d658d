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


# Plugins of pytest's that no suite uses: each costs every child its registration.
UNUSED_PLUGINS = ("terminal", "cacheprovider", "stepwise", "faulthandler", "junitxml", "doctest", "pastebin",
                  "setuponly", "setupplan", "unittest", "subtests")


def _pytest_args(config):
    """The suites' modules, in the order of the cases named (all when none): the plugin keeps the named
    cases (``GraderPlugin.pytest_collection_modifyitems``), which then run in the modules' order, the
    order the reference lists them in. Naming each case to pytest instead costs a child 10 ms."""
    suites = list(dict.fromkeys(case.split("::", 1)[0] for case in config["cases"])) or config["suites"]
    return [os.path.join(SUITES_DIR, f"test_{suite}.py") for suite in suites] + [
        *(option for name in UNUSED_PLUGINS for option in ("-p", f"no:{name}")),
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


def confined(channel, layers, error=None):
    """Tell the grader which layers took effect; on an error, end here (exit code 70)."""
    wire.write_frame(channel, {"type": "confined", "layers": layers, **({"error": error} if error else {})})
    if error:
        os._exit(70)


def main():
    config = json.loads(sys.argv[-1])
    if config["mode"] == "template":
        from . import template

        template.serve(config)
        return
    layers = {}
    try:
        confine.apply(config["plan"], layers)
    except confine.ConfinementError as exc:
        confined(config["channel_fd"], layers, str(exc))
    sys.path[:] = config["sys_path"] + [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    if config["mode"] != "probe":
        # Imported before the submission, so a submission's numpy.py or pytest.py can never shadow them.
        import_what_grading_needs()
    run_confined(config, layers)


def import_what_grading_needs():
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    from pytest_jsonreport.plugin import JSONReport  # noqa: F401

    from . import harness, plugin  # noqa: F401


def run_confined(config, layers):
    """The rest of a child's life once its layers before seccomp are on, exec'd or forked alike:
    the probe's checks, or seccomp, then the submission and its cases."""
    channel = config["channel_fd"]
    if config["mode"] == "probe":
        unreadable = _unreadable(config["sys_path"])
        if unreadable:
            layer = "uid" if "uid" in layers else "filesystem_view" if "filesystem_view" in layers else "process"
            layers[layer] = f"failed: cannot read {unreadable}"
            confined(channel, layers, f"{layer}: cannot read {unreadable}")
    if config["plan"].get("seccomp"):
        try:
            confine.load_seccomp(os.getpid())
            layers["seccomp"] = "on"
        except (confine.ConfinementError, OSError) as exc:
            layers["seccomp"] = f"failed: {exc}"
            confined(channel, layers, f"seccomp: {exc}")
    confined(channel, layers)
    if config["mode"] == "probe":
        os._exit(0)
    import pytest
    from pytest_jsonreport.plugin import JSONReport

    from . import harness
    from .plugin import GraderPlugin

    harness.RUN = run = harness.Run(config, channel)
    # The submission's modules are imported before the first case, under the start-up
    # deadline: a case's timeout then measures only the case.
    harness.simple_ml()
    harness.flush_output()   # what the import printed is the submission's, before any case
    exit_code = pytest.main(_pytest_args(config), plugins=[JSONReport(), GraderPlugin()])
    harness.flush_output()
    run.send({"type": "done", "exitcode": int(exit_code)})
    # Skip interpreter teardown: atexit handlers are the submission's, not ours.
    os._exit(0)
