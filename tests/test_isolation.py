"""The isolation layers: what each one stops, and grading with whatever is left."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from grader import isolation

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="namespaces and seccomp are Linux's")

SECCOMP_PROBE = textwrap.dedent("""
    import os, signal, socket, sys, threading
    sys.path.insert(0, sys.argv[1])
    from needle_grader_kit import confine
    import numpy
    confine.load_seccomp(os.getpid())

    def attempt(name, action):
        try:
            action()
            print(name, "allowed")
        except OSError as exc:
            print(name, "denied", exc.errno)

    attempt("fork", os.fork)
    attempt("inet socket", socket.socket)
    attempt("inet6 socket", lambda: socket.socket(socket.AF_INET6))
    attempt("unix socket", lambda: socket.socket(socket.AF_UNIX).close())
    attempt("exec", lambda: os.execv("/bin/true", ["true"]))
    attempt("signal the parent", lambda: os.kill(os.getppid(), 0))
    attempt("signal itself", lambda: os.kill(os.getpid(), 0))
    thread = threading.Thread(target=lambda: None)
    attempt("thread", lambda: (thread.start(), thread.join()))
    attempt("numpy matmul", lambda: numpy.ones((200, 200)) @ numpy.ones((200, 200)))
""")


@pytest.fixture(scope="module")
def workspace():
    workspace = isolation.Workspace()
    yield workspace
    workspace.close()


def test_the_seccomp_filter_stops_processes_networks_and_signals_but_not_threads(workspace):
    completed = subprocess.run([sys.executable, "-I", "-c", SECCOMP_PROBE, workspace.kit_root],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "fork denied 1", "inet socket denied 13", "inet6 socket denied 13", "unix socket allowed", "exec denied 1",
        "signal the parent denied 1", "signal itself allowed", "thread allowed", "numpy matmul allowed"]


def test_disabled_layers_are_recorded_off_with_their_dependants(workspace):
    sandbox = isolation.detect(workspace, isolation.Limits(), disabled=("namespaces", "seccomp"))
    assert sandbox.layers["namespaces"] == "off: disabled"
    assert sandbox.layers["filesystem_view"] == "off: needs namespaces"
    assert sandbox.layers["network_namespace"] == "off: needs namespaces"
    off = sandbox.summary()["off"]
    assert {"namespaces", "filesystem_view", "network_namespace", "seccomp"} <= set(off)
    if "uid" in off and os.geteuid() == 0:
        # Without its own view of the filesystem, an unprivileged uid may not reach the interpreter
        # (pyenv's lives in root's home): the probe notices and steps down, saying why.
        assert sandbox.layers["uid"].startswith("off: uid: cannot read ")
    plan = sandbox.plan("/scratch", "/root-view", 61000)
    assert "namespaces" not in plan and plan["seccomp"] is False


def test_the_process_limit_applies_only_with_an_unprivileged_uid():
    limits = isolation.Limits()
    assert "processes" in limits.rlimits(with_processes=True)
    assert "processes" not in limits.rlimits(with_processes=False)
    assert limits.rlimits(True)["core"] == 0


def test_grading_still_works_with_every_optional_layer_off_and_says_so(grading_session):
    from grader import grading

    with grading.Session(suites=("topo_sort",), disabled_layers=isolation.LAYER_ORDER[2:]) as session:
        result = session.grade(session.stage("submissions/alice"))
    assert result["score"] == 20.0
    assert result["environment"]["sandbox"]["off"] == list(isolation.LAYER_ORDER[2:])
    assert result["environment"]["sandbox"]["layers"]["rlimits"] == "on"


def test_as_root_the_child_runs_under_an_unprivileged_uid_in_its_own_view(sandbox_layers, tmp_path):
    if sandbox_layers.get("uid") != "on" or sandbox_layers.get("filesystem_view") != "on":
        pytest.skip(f"needs uid and filesystem_view: {sandbox_layers}")
    from grader import grading

    with grading.Session(suites=("forward",), cases=("negate",)) as session:
        staged = session.stage("submissions/alice")
        execution = session.execute(staged)
    assert execution.layers == {"rlimits": "on", "namespaces": "on", "network_namespace": "on",
                                "filesystem_view": "on", "uid": "on", "seccomp": "on"}
    assert isolation.sandbox_uid(0) >= isolation.UID_BASE
    assert os.geteuid() == 0
