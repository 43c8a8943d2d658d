"""The isolation layers: what each one stops, and grading with whatever is left."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from grader import grading, isolation

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
    sandbox = grading.detect_sandbox(workspace, isolation.Limits(), ("bubblewrap", "namespaces", "seccomp"))
    assert sandbox.layers["bubblewrap"] == sandbox.layers["namespaces"] == "off: disabled"
    assert sandbox.layers["filesystem_view"] == "off: needs namespaces"
    assert sandbox.layers["network_namespace"] == "off: needs namespaces"
    off = sandbox.summary()["off"]
    assert {"namespaces", "filesystem_view", "network_namespace", "seccomp"} <= set(off)
    if "uid" in off and os.geteuid() == 0:
        # Without its own view of the filesystem, an unprivileged uid may not reach the interpreter
        # (pyenv's lives in root's home): the probe notices and steps down, saying why.
        assert sandbox.layers["uid"].startswith("off: uid: cannot read ")
    plan, wrapper = sandbox.plan("/scratch", "/root-view", 61000)
    assert "namespaces" not in plan and plan["seccomp"] is False and wrapper == []


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


@pytest.mark.parametrize("provider", isolation.VIEW_PROVIDERS)
def test_either_view_provider_hides_the_grader_and_the_network(provider, sandbox_layers, tmp_path):
    """bubblewrap where it is installed, else the child's own namespaces: both must hold."""
    from grader import grading

    others = tuple(p for p in isolation.VIEW_PROVIDERS if p != provider)
    with grading.Session(suites=("forward",), cases=("negate",), disabled_layers=others, year="2022") as session:
        if not session.sandbox.on(provider) or not session.sandbox.on("filesystem_view"):
            pytest.skip(f"{provider} is not available here: {session.sandbox.layers[provider]}")
        stolen = session.grade(session.stage("submissions/hostile-read-reference"))
        imported = session.grade(session.stage("submissions/hostile-import-reference"))
        alice = session.grade(session.stage("submissions/alice"))
    assert stolen["suites"][0]["cases"][0]["status"] == "failed"
    assert "read-reference: found nothing readable" in stolen["output"]["stdout"]
    assert "import-reference: no reference needle found" in imported["output"]["stdout"]
    assert alice["score"] == alice["max_score"]
    assert alice["environment"]["sandbox"]["layers"][provider] == "on"


def test_as_root_the_child_runs_under_an_unprivileged_uid(sandbox_layers):
    if sandbox_layers.get("uid") != "on":
        pytest.skip(f"needs the uid layer: {sandbox_layers.get('uid')}")
    from grader import grading

    with grading.Session(suites=("forward",), cases=("negate",)) as session:
        execution = session.execute(session.stage("submissions/alice"))
    assert execution.layers["uid"] == "on" and execution.layers["rlimits"] == "on"
    assert execution.layers.get("seccomp") == sandbox_layers["seccomp"]

def test_each_grader_claims_a_uid_of_its_own(sandbox_layers):
    if sandbox_layers.get("uid") != "on":
        pytest.skip(f"needs the uid layer: {sandbox_layers.get('uid')}")
    first, second = isolation.Workspace(), isolation.Workspace()
    try:
        uids = {first.uid(0), first.uid(1), second.uid(0)}
        assert len(uids) == 3 and uids <= set(isolation.UID_RANGE)
        assert first.uid(0) == first.uid(0)
    finally:
        first.close()
        second.close()


def test_an_unneeded_view_provider_is_not_a_missing_protection(workspace):
    layers = {name: "on" for name in isolation.LAYER_ORDER}
    layers["bubblewrap"] = "off: not installed (Debian package bubblewrap)"
    assert isolation.Sandbox(layers, workspace, isolation.Limits(), [], []).summary()["off"] == []
    layers.update(namespaces="off: disabled", filesystem_view="off: needs namespaces",
                  network_namespace="off: needs namespaces")
    assert isolation.Sandbox(layers, workspace, isolation.Limits(), [], []).summary()["off"] == [
        "bubblewrap", "namespaces", "filesystem_view", "network_namespace"]


@pytest.mark.parametrize("template", [False, True], ids=["exec'd", "forked"])
@pytest.mark.parametrize("bubblewrap", ["as installed", "absent"])
def test_a_grader_whose_umask_is_077_keeps_every_layer(bubblewrap, template):
    """A course's worker and server keep umask 077 for the course's files; a view the child's own
    namespaces build (a forked child's, or any child's without bubblewrap) must still let its uid through."""
    disabled = ("bubblewrap",) if bubblewrap == "absent" else ()
    found = {}
    for umask in (0o022, 0o077):
        previous = os.umask(umask)
        try:
            with grading.Session(suites=("forward",), cases=("negate",), disabled_layers=disabled,
                                 template=template) as session:
                result = session.grade(session.stage("submissions/alice"))
                found[umask] = (dict(session.sandbox.layers), result["environment"]["sandbox"]["children"],
                                result["environment"]["sandbox"]["applied"], result["score"] == result["max_score"])
        finally:
            os.umask(previous)
    assert found[0o077] == found[0o022]
    assert found[0o077][1]["start"] == ("forked" if template else "exec") and found[0o077][3]
