"""Hostile submissions: each attacks the grader while answering forward::negate wrongly.

A successful attack would turn that wrong answer into a pass, so every test
asserts the exact verdicts (negate not passed, softmax_loss::exp_forward - answered honestly beside
it - passed) and that the grader came through intact: exit code 0 and a result
that follows the schema. Each runs the real ``grader`` command with short
timeouts and only the two cases it needs. A test that needs a protection this
machine lacks is skipped, and says which.
"""

import os
import re
import socket
import threading
import time

import pytest

from grader import isolation

CASES = ["--suite", "forward", "--suite", "softmax_loss", "--case", "negate", "--case", "exp_forward", "--timeout", "3",
         "--year", "2022"]  # only python/needle/__init__.py: every year fits


def grade_hostile(run_grader, tmp_path, attack, *extra):
    out = tmp_path / "out" / f"{attack}.json"
    completed, result = run_grader("run", f"submissions/hostile-{attack}", *CASES, *extra, "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    verdicts = {case["name"]: case for suite in result["suites"] for case in suite["cases"]}
    assert set(verdicts) == {"negate", "exp_forward"}
    assert verdicts["exp_forward"]["status"] == "passed", verdicts["exp_forward"]
    return result, verdicts["negate"]


def require(layers, *any_of):
    if not any(layers.get(name) == "on" for name in any_of):
        reasons = "; ".join(f"{name}: {layers.get(name)}" for name in any_of)
        pytest.skip(f"needs {' or '.join(any_of)}, which this machine lacks ({reasons})")


def sandbox_processes(result):
    """Processes still running under the uid the submission ran under."""
    return isolation.processes_of({result["environment"]["sandbox"]["uid"]})


def test_reading_the_reference_values_finds_nothing(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "filesystem_view")
    result, negate = grade_hostile(run_grader, tmp_path, "read-reference")
    assert negate["status"] == "failed"
    assert "read-reference: found nothing readable" in result["output"]["stdout"]


def test_importing_the_reference_needle_finds_nothing(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "filesystem_view")
    result, negate = grade_hostile(run_grader, tmp_path, "import-reference")
    assert negate["status"] == "failed"
    assert "import-reference: no reference needle found" in result["output"]["stdout"]


def test_exiting_mid_suite_costs_only_that_case(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "os-exit")
    assert negate["status"] == "error"
    assert negate["message"] == "the process exited with code 0"
    assert result["restarts"] == 1


def test_a_segfault_costs_only_that_case(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "segfault")
    assert negate["status"] == "error"
    assert negate["message"] == "the process was killed by signal SIGSEGV (segmentation fault)"
    assert result["restarts"] == 1


def test_sys_exit_in_a_case_is_reported_as_such(run_grader, tmp_path):
    _, negate = grade_hostile(run_grader, tmp_path, "sys-exit")
    assert negate["status"] == "error"
    first, *frames = negate["message"].splitlines()
    assert first == "the submission called sys.exit(3)"
    assert re.fullmatch(r"  python/needle/ops\.py, line \d+, in negate: return Negate\(\)\(a\)", frames[0])
    assert frames[-1] == "  python/needle/__init__.py, line 13, in negate_compute: sys.exit(3)"


def test_fake_results_on_stdout_are_only_feedback(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "fake-stdout")
    assert negate["status"] == "failed"
    assert "test_forward.py::test_negate PASSED" in result["output"]["stdout"]
    assert negate["message"].startswith("out: 12 of 12 elements differ")


def test_files_named_like_results_land_nowhere_that_matters(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "filesystem_view", "uid")
    result, negate = grade_hostile(run_grader, tmp_path, "result-files")
    assert negate["status"] == "failed"
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["out/result-files.json"]
    honest = [case for suite in result["suites"] for case in suite["cases"] if case["name"] == "exp_forward"]
    assert result["score"] == pytest.approx(honest[0]["max_score"])  # the honest case's points, no more


def test_conftest_files_in_the_submission_are_never_loaded(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "conftest")
    assert negate["status"] == "failed"
    assert "CONFTEST LOADED" not in result["output"]["stdout"]


def test_modules_named_like_numpy_pytest_or_the_grader_never_shadow_them(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "numpy-shadow")
    assert negate["status"] == "failed"
    output = result["output"]["stdout"] + result["output"]["stderr"]
    assert "SHADOW MODULE IMPORTED" not in output and "PTH FILE EXECUTED" not in output


def test_monkeypatched_numpy_comparisons_change_nothing(run_grader, tmp_path):
    _, negate = grade_hostile(run_grader, tmp_path, "monkeypatch")
    assert negate["status"] == "failed"
    assert negate["first_mismatch"]["mismatched"] == 12


def test_a_lying_ndarray_arrives_as_its_real_numbers(run_grader, tmp_path):
    _, negate = grade_hostile(run_grader, tmp_path, "lying-ndarray")
    assert negate["status"] == "failed"
    assert ", got 0)" in negate["message"]


def test_an_infinite_loop_times_out_alone(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "infinite-loop", "--timeout", "2")
    assert negate["status"] == "timeout"
    assert negate["message"] == "timed out after 2 s in Negate.compute"
    assert result["notes"][-1] == "Negate.compute ran past its time limit in forward/negate: it was not run again"
    assert result["duration_s"] < 20


def test_a_memory_bomb_runs_out_of_memory_alone(run_grader, tmp_path):
    _, negate = grade_hostile(run_grader, tmp_path, "memory-bomb", "--memory-mb", "600")
    assert negate["status"] == "error"
    assert negate["message"].startswith("out of memory (ArrayMemoryError: Unable to allocate")


def test_a_fork_bomb_starts_nothing_and_leaves_nothing(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "seccomp", "uid")
    result, negate = grade_hostile(run_grader, tmp_path, "fork-bomb")
    assert negate["status"] == "failed"
    if sandbox_layers.get("seccomp") == "on":
        assert "fork-bomb: started 0 processes" in result["output"]["stdout"]
    assert sandbox_processes(result) == []


def test_a_daemon_does_not_outlive_its_grading(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "seccomp", "uid")
    proof = "/tmp/needle-grader-daemon-proof"
    if os.path.exists(proof):
        os.remove(proof)
    result, negate = grade_hostile(run_grader, tmp_path, "daemon")
    assert negate["status"] == "failed"
    assert sandbox_processes(result) == []
    time.sleep(2.5)  # the daemon would write 1.5 s after it started
    assert not os.path.exists(proof)


def test_killing_the_grader_fails(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "seccomp", "uid")
    result, negate = grade_hostile(run_grader, tmp_path, "kill-parent")
    assert negate["status"] == "failed"
    assert "kill-parent: could not signal" in result["output"]["stdout"]
    assert "kill-parent: signalled" not in result["output"]["stdout"]


def test_a_local_server_with_the_answer_is_unreachable(run_grader, tmp_path, sandbox_layers):
    require(sandbox_layers, "seccomp", "network_namespace")
    connections = []
    server = socket.socket()
    # the submission knows only this port: let test runs of several interpreters share it
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    server.bind(("127.0.0.1", 47611))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def answer():
        import numpy as np

        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append(connection)
            data = connection.recv(1 << 20)
            connection.sendall((-np.frombuffer(data, dtype="<f8")).tobytes())
            connection.close()

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        result, negate = grade_hostile(run_grader, tmp_path, "network")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert connections == []
    assert negate["status"] == "failed"
    assert "network: no connection" in result["output"]["stdout"]


def test_a_billion_element_output_is_refused(run_grader, tmp_path):
    _, negate = grade_hostile(run_grader, tmp_path, "huge-output")
    assert negate["status"] == "failed"
    assert negate["message"] == ("out: value of shape (1000000000,) (1000000000 elements, 8000000000 bytes) "
                                 "is over the grader's cap of 67108864 bytes per value")


def test_flooding_stdout_is_capped(run_grader, tmp_path):
    result, negate = grade_hostile(run_grader, tmp_path, "stdout-flood")
    assert negate["status"] == "failed"
    stdout = result["output"]["stdout"]
    assert len(stdout) < 70 * 1024
    assert stdout.rstrip().endswith("more bytes not kept]")


def test_a_submission_that_hangs_everywhere_stops_at_its_budget(tmp_path):
    from grader import grading

    package = tmp_path / "hangs" / "python" / "needle"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from . import ops\nfrom .ops import *\nfrom .autograd import Tensor\n\n"
        "def _hang(self, *args, **kwargs):\n    while True:\n        pass\n\nTensor.__init__ = _hang\n")
    limits = isolation.Limits(case_timeout=1, submission_budget=2.5)
    with grading.Session(limits=limits, suites=("forward",), year="2022") as session:
        result = session.grade(session.stage(str(tmp_path / "hangs")))
    # Tensor() hangs outside any function of the student's that the grader watches: each case times out
    statuses = [(case["status"], case["message"]) for case in result["suites"][0]["cases"]]
    timed_out = statuses.count(("timeout", "timed out after 1 s"))
    stopped = statuses.count(("timeout", "stopped: the time budget was spent during this case "
                                         "(2.5 s for the whole submission)"))
    assert timed_out >= 1 and stopped <= 1
    assert statuses[timed_out + stopped:] == [
        ("timeout", "not run: the time budget was spent (2.5 s for the whole submission)")] * (
        len(statuses) - timed_out - stopped)
    assert result["score"] == 0 and result["duration_s"] < 10


def test_forged_frames_cost_only_the_case_that_sent_them(tmp_path):
    from grader import grading

    package = tmp_path / "forges" / "python" / "needle"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from . import ops\nfrom .ops import *\nfrom .autograd import Tensor\nimport numpy\n"
        "from needle_grader_kit import harness\n\n"
        "harness.RUN.send({'type': 'end'})   # outside any case\n"
        "ops.Exp.compute = lambda self, a: numpy.exp(a)\n\n"
        "def _negate(self, a):\n"
        "    send = harness.RUN.send\n"
        "    send({'type': 'end'})\n"
        "    send({'type': 'returned', 'case': 'forward::negate', 'call': [1]})\n"
        "    send({'type': 'calls_hung', 'case': 'forward::negate', 'function': ['Negate.compute']})\n"
        "    send({'type': 'running', 'case': ['forward::negate'], 'call': 1, 'function': 'Negate.compute'})\n"
        "    return a\n\n"
        "ops.Negate.compute = _negate\n")
    with grading.Session(cases=("negate", "exp_forward"), year="2022") as session:
        result = session.grade(session.stage(str(tmp_path / "forges")))
    verdicts = {case["name"]: (case["status"], case["message"]) for suite in result["suites"] for case in suite["cases"]}
    assert verdicts == {"negate": ("error", "sent a value the grader refused: a running frame names its case with "
                                            "list, not a string"),
                        "exp_forward": ("passed", "")}
