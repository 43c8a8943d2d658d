"""Children forked from a warm template: the same walls, the same results, and no state crossing gradings.

Every grading here is real: a template started, children forked from it and
confined, their results compared with those of children exec'd afresh. The
sample and corpus tests grade through the template too (``grading_session`` in
conftest.py), with the verdicts they always expected.
"""

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from grader import batch, grading, isolation, reference, supervise

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="children are forked from a template on Linux")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTILE_CASES = dict(suites=("forward", "softmax_loss"), cases=("negate", "exp_forward"), year="2022")


def sample(name):
    return os.path.join(REPO_ROOT, "submissions", name)


def verdicts(result):
    """What a grading decided and said: per case status, score, message and output, the notes and the output."""
    return {"score": result["score"], "restarts": result["restarts"], "notes": result["notes"],
            "output": result["output"],
            "cases": {f"{suite['name']}::{case['name']}": (case["status"], case["score"], case["message"],
                                                           case.get("output"))
                      for suite in result["suites"] for case in suite["cases"]}}


def forked_session(**options):
    """A session whose children are forked: on Linux they always can be (else the test fails, saying why)."""
    session = grading.Session(template=True, **options)
    if session.template is None:
        session.close()
        pytest.fail(f"children cannot be forked here: {session.children['why']}")
    return session


@pytest.mark.parametrize("bubblewrap", ["installed", "absent"])
def test_a_forked_child_applies_every_layer_an_exec_d_one_has_and_the_result_says_so(bubblewrap, sandbox_layers):
    """With bubblewrap (this machine's case) its namespaces are made by the forked child; without (CI's case)
    the child's own namespaces, as an exec'd child's, plus a PID namespace."""
    if bubblewrap == "installed" and sandbox_layers.get("bubblewrap") != "on":
        pytest.skip(f"bubblewrap is not available here: {sandbox_layers.get('bubblewrap')}")
    disabled = ("bubblewrap",) if bubblewrap == "absent" else ()
    with forked_session(disabled_layers=disabled, suites=("forward",), cases=("negate",)) as session:
        result = session.grade(session.stage(sample("alice")))
        expected = session.sandbox.forked_layers()
        line = grading.describe_children(session.sandbox, session.children)
    sandbox = result["environment"]["sandbox"]
    assert result["score"] == result["max_score"] > 0
    assert sandbox["children"] == {"start": "forked"}
    assert {layer for layer, state in sandbox["applied"].items() if state == "on"} == set(expected)
    if sandbox_layers.get("filesystem_view") == "on":
        assert {"namespaces", "pid_namespace", "filesystem_view", "network_namespace"} <= set(expected)
    assert line.startswith("forked from a warm template, every layer kept")
    assert ("bubblewrap's namespaces" in line) == (bubblewrap == "installed")


def test_when_a_forked_child_cannot_have_bubblewrap_s_walls_every_grading_is_exec_d_and_says_why(sandbox_layers):
    if sandbox_layers.get("bubblewrap") != "on":
        pytest.skip(f"bubblewrap is not available here: {sandbox_layers.get('bubblewrap')}")
    with grading.Session(template=True, disabled_layers=("namespaces",), suites=("forward",),
                         cases=("negate",)) as session:
        assert session.template is None
        result = session.grade(session.stage(sample("alice")))
        line = grading.describe_children(session.sandbox, session.children)
    why = ("bubblewrap needs a fresh exec, and the namespaces that give a forked child the same walls are disabled")
    assert result["environment"]["sandbox"]["children"] == {"start": "exec", "why": why}
    assert result["environment"]["sandbox"]["layers"]["bubblewrap"] == "on"
    assert result["score"] == result["max_score"] > 0
    assert line == f"exec'd, each from a fresh interpreter: a template cannot be used ({why})"


@pytest.mark.parametrize("disabled", [("uid",), ("uid", "bubblewrap", "namespaces")])
def test_a_forked_child_without_a_uid_of_its_own_is_stopped_at_its_timeout(disabled):
    """As a user who is not root grades: the child stopped midway is killed with its process group, and the
    case says it timed out (the sweep of a uid it does not have used to crash the grading)."""
    with forked_session(disabled_layers=disabled, limits=isolation.Limits(case_timeout=2), suites=("forward",),
                        cases=("negate",), year="2022") as session:
        result = session.grade(session.stage(sample("hostile-infinite-loop")))
    assert result["environment"]["sandbox"]["children"] == {"start": "forked"}
    assert [(case["name"], case["status"]) for case in result["suites"][0]["cases"]] == [("negate", "timeout")]


def test_grader_doctor_says_how_children_start():
    completed = subprocess.run([sys.executable, "-m", "grader", "doctor"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    line = next(line for line in completed.stdout.splitlines() if line.strip().startswith("children"))
    assert re.fullmatch(r"  children +(forked from a warm template, every layer kept.*|exec'd, each from a fresh "
                        r"interpreter: a template cannot be used \(.+\))", line)


def test_a_hostile_submission_changes_nothing_of_the_next_grading(tmp_path):
    """It patches numpy, pytest and the kit, plants files, signals, limits and the random state; graded
    first by children forked from the same template, alice and bob get what they get graded alone."""
    paths = [sample("hostile-lingering"), sample("alice"), sample("bob"), sample("hostile-lingering"), sample("bob")]
    with forked_session(year="2022") as session:
        template = session.template.process.pid
        outcomes = batch.Batch(session, paths, jobs=1).run()
        assert session.template.process.pid == template and session.template.replaced == []
    with grading.Session(year="2022") as alone:
        lone = {name: verdicts(alone.grade(alone.stage(sample(name)))) for name in ("alice", "bob")}
    graded = [(outcome.name, outcome.result) for outcome in outcomes]
    assert [name for name, _ in graded] == ["hostile-lingering", "alice", "bob", "hostile-lingering", "bob"]
    assert verdicts(graded[1][1]) == lone["alice"] and graded[1][1]["score"] == 100.0
    assert verdicts(graded[2][1]) == verdicts(graded[4][1]) == lone["bob"]
    hostile = graded[0][1]
    assert "lingering: open descriptors [0, 1, 2, 3]" in hostile["output"]["stdout"]   # nothing of the template's
    assert verdicts(hostile) == verdicts(graded[3][1])


def test_a_child_s_crash_leaves_the_template_as_it_was():
    with forked_session(**HOSTILE_CASES) as session:
        template = session.template.process.pid
        crashed = session.grade(session.stage(sample("hostile-segfault")))
        after = session.grade(session.stage(sample("alice")))
        assert (session.template.process.pid, session.template.replaced) == (template, [])
    negate = crashed["suites"][0]["cases"][0]
    assert negate["message"] == "the process was killed by signal SIGSEGV (segmentation fault)"
    assert after["score"] == after["max_score"]


def test_the_template_is_replaced_when_it_dies_and_after_its_share_of_gradings():
    limits = isolation.Limits(template_gradings=2)
    with forked_session(limits=limits, **HOSTILE_CASES) as session:
        staged = session.stage(sample("alice"))
        first = session.template.process.pid
        scores = [session.grade(staged)["score"] for _ in range(3)]     # the third needs a new template
        second = session.template.process.pid
        os.kill(second, signal.SIGKILL)
        session.template.process.wait()
        scores.append(session.grade(staged)["score"])
        third = session.template.process.pid
        replaced = list(session.template.replaced)
    assert len({first, second, third}) == 3
    assert replaced == ["it had forked 2 gradings", "it died (signal 9)"]
    assert len(set(scores)) == 1 and scores[0] > 0


def test_a_template_whose_memory_grows_past_its_bound_is_replaced_and_its_address_space_is_limited():
    limits = isolation.Limits(template_memory_bytes=16 * isolation.MiB)   # less than any template's resident size
    with forked_session(limits=limits, **HOSTILE_CASES) as session:
        with open(f"/proc/{session.template.process.pid}/limits") as handle:
            address_space = next(line for line in handle if line.startswith("Max address space")).split()
        vsz = session.template.vsz
        result = session.grade(session.stage(sample("alice")))
        replaced = list(session.template.replaced)
    assert int(address_space[3]) == vsz + 16 * isolation.MiB    # the soft limit, in bytes
    assert re.fullmatch(r"its memory grew to \d+ MiB", replaced[0])
    assert result["score"] == result["max_score"]


def test_a_memory_limit_below_the_template_s_own_size_grades_by_exec_and_says_why():
    with forked_session(**HOSTILE_CASES) as session:
        session.limits.memory_bytes = session.template.vsz   # the Limits the sandbox holds; an exec'd child fits
        result = session.grade(session.stage(sample("alice")))
    children = result["environment"]["sandbox"]["children"]
    assert children["start"] == "exec"
    assert re.fullmatch(r"the memory limit of \d+ MiB leaves a forked child no room: the template alone maps \d+ MiB",
                        children["why"])


def test_a_long_running_worker_grades_with_a_new_session_when_the_published_reference_changes(tmp_path,
                                                                                              monkeypatch):
    pytest.importorskip("huey", reason="the course service's packages are not installed")
    import shutil

    from grader.serve import worker

    published = tmp_path / "reference"
    shutil.copytree(reference.REFERENCE_DIR, published)
    monkeypatch.setenv("NEEDLE_GRADER_REFERENCE", str(published))
    grader = worker.Worker(f"sqlite:///{tmp_path / 'course.db'}", f"sqlite:///{tmp_path / 'queue.db'}")._here()
    first = grader.grading_session("2022", 0, 120)
    assert first.children == {"start": "forked"} or first.template is None
    template = first.template.process if first.template else None
    assert grader.grading_session("2022", 0, 120) is first and first.changed() is None
    values = published / "2022" / reference.VALUES
    os.replace(values, tmp_path / "values.npz")
    shutil.copy(tmp_path / "values.npz", values)     # republished: a new file
    try:
        assert first.changed() == "the published reference"
        second = grader.grading_session("2022", 0, 120)
        assert second is not first
        if template is not None:
            assert template.poll() is not None and second.template.process.pid != template.pid
    finally:
        grader.close()


def test_what_a_long_running_session_watches_on_disk():
    watched = grading.on_disk()
    assert list(watched) == ["the suites and the kit", "the grader's own files", "the published reference"]
    files = {part: {os.path.relpath(path, REPO_ROOT) for path, _, _ in entries} for part, entries in watched.items()}
    assert {"grader/kit/suites/test_forward.py", "grader/kit/template.py"} <= files["the suites and the kit"]
    assert {"grader/supervise.py", "grader/template.py"} <= files["the grader's own files"]
    assert "reference/2022/values.npz" in files["the published reference"]


def test_the_hostile_samples_get_the_same_verdicts_forked_as_exec_d():
    # the infinite loop is timed by test_hostile; the lingering one prints its descriptors, which differ
    names = sorted(name for name in os.listdir(os.path.join(REPO_ROOT, "submissions"))
                   if name.startswith("hostile-") and name not in ("hostile-infinite-loop", "hostile-lingering"))
    limits = isolation.Limits(case_timeout=3)
    found = {}
    for template in (True, False):
        with grading.Session(limits=limits, template=template, **HOSTILE_CASES) as session:
            outcomes = batch.Batch(session, [sample(name) for name in names], jobs=1).run()
            found[template] = {outcome.name: outcome.result for outcome in outcomes}
            if template:
                children = {result["environment"]["sandbox"]["children"]["start"] for result in found[True].values()}
                assert children == ({"forked"} if session.template else {"exec"})
    for name in names:
        assert verdicts(found[True][name]) == verdicts(found[False][name]), name


def test_what_a_submission_prints_goes_with_the_case_that_printed_it_forked_and_exec_d(tmp_path):
    """Printed at import: the submission's output, no case's; printed by a case's call: that case's alone."""
    submission = tmp_path / "printing"
    shutil.copytree(sample("alice"), submission, ignore=shutil.ignore_patterns("__pycache__"))
    ops = submission / "python" / "needle" / "ops.py"
    text = ops.read_text().replace("        return array_api.negative(a)\n",
                                   "        print('negating')\n        return array_api.negative(a)\n", 1)
    ops.write_text("print('imported')\n" + text)
    for template in (True, False):
        with grading.Session(template=template, suites=("forward",), cases=("negate", "exp_forward", "transpose*"),
                             year="2022") as session:
            result = session.grade(session.stage(str(submission)))
        printed = {case["name"]: case.get("output") for suite in result["suites"] for case in suite["cases"]}
        assert {case["status"] for suite in result["suites"] for case in suite["cases"]} == {"passed"}, template
        assert result["output"]["stdout"].startswith("imported\n"), template
        assert {name: text for name, text in printed.items() if text} == {"negate": "negating\n"}, template


def test_a_child_killed_from_outside_before_its_first_case_is_started_again_and_never_scored(monkeypatch):
    """What a busy machine once did: every case "killed by signal SIGKILL outside any case", 0 / 100."""
    kills, kills_wanted = [], 0
    started = supervise.Child.__init__

    def killed_at_once(child, *args, **kwargs):
        started(child, *args, **kwargs)
        if len(kills) < kills_wanted and args[2]["mode"] == "grade":
            kills.append(child.process.pid)
            if child.forked:
                child.process._signal(signal.SIGKILL)
            else:   # once bubblewrap has set up, if it wraps the child: its PID 1 outlives a kill before that
                time.sleep(0.05)
                os.kill(child.process.pid, signal.SIGKILL)

    monkeypatch.setattr(supervise.Child, "__init__", killed_at_once)
    for template in (True, False):
        with grading.Session(template=template, suites=("forward",)) as session:
            staged = session.stage(sample("bob"))
            kills_wanted = 0
            alone = session.grade(staged)
            kills_wanted, kills[:] = 1, []
            retried = session.grade(staged)
            kills_wanted, kills[:] = 2, []
            with pytest.raises(supervise.GradingError) as failed:
                session.grade(staged)
            kills[:] = []
            outcome, = batch.Batch(session, [sample("bob")], jobs=1).run()
        assert verdicts(retried)["cases"] == verdicts(alone)["cases"] and retried["score"] == alone["score"] > 0
        assert retried["notes"] == alone["notes"] + [
            "outside any case, the process was killed by signal SIGKILL (killed): not the submission's doing, so "
            "it was started again"]
        assert str(failed.value) == ("the grading process died twice, neither time the submission's doing: the "
                                     "process was killed by signal SIGKILL (killed); then the process was killed by "
                                     "signal SIGKILL (killed)")
        assert (outcome.status, outcome.result) == ("could not grade", None)
        assert outcome.error == f"bob: {failed.value}"


def test_a_sweep_never_reaches_a_process_that_took_a_reaped_child_s_pid(tmp_path):
    """Without root, a child's leftovers are swept by its process group; once the child is reaped its pid,
    the group's id, can be the next process's. The sweep happens before the reaping."""
    last_pid = "/proc/sys/kernel/ns_last_pid"
    if os.geteuid() != 0 or not os.access(last_pid, os.W_OK):
        pytest.skip("choosing the next pid needs root")
    with grading.Session(disabled_layers=isolation.LAYER_ORDER[2:], suites=("forward",), cases=("negate",)) as session:
        assert not session.sandbox.on("uid")
        staged = session.stage(sample("alice"))
        bystanders = []
        sweep = isolation.sweep

        def sweep_after_a_bystander_took_the_pid(uid, process_group):
            if process_group is not None:
                try:   # the pid the child had, given to a new process group's leader if it is free
                    with open(last_pid, "w") as handle:
                        handle.write(str(process_group - 1))
                    bystanders.append(subprocess.Popen(["sleep", "30"], start_new_session=True))
                except OSError:
                    pass
            sweep(uid, process_group)

        isolation.sweep = sweep_after_a_bystander_took_the_pid
        try:
            result = session.grade(staged)
        finally:
            isolation.sweep = sweep
    try:
        assert result["score"] == result["max_score"]
        assert bystanders and all(process.poll() is None for process in bystanders)
    finally:
        for process in bystanders:
            process.kill()
            process.wait()


def test_grader_run_forks_for_a_class_execs_for_one_submission_and_with_no_template(tmp_path, run_grader):
    cases = ["--suite", "forward", "--case", "negate", "--year", "2022", "--quiet"]
    started = {}
    for label, extra in (("class", []), ("no-template", ["--no-template"])):
        out = tmp_path / label
        completed, _ = run_grader("run", "submissions/alice", "submissions/bob", *cases, *extra, "--out-dir", str(out))
        assert completed.returncode == 0, completed.stderr
        started[label] = {json.loads((out / f"{name}.json").read_text())["environment"]["sandbox"]["children"]["start"]
                          for name in ("alice", "bob")}
    completed, result = run_grader("run", "submissions/alice", *cases, "--out", str(tmp_path / "one.json"))
    assert completed.returncode == 0, completed.stderr
    assert started["no-template"] == {"exec"} and result["environment"]["sandbox"]["children"] == {
        "start": "exec", "why": "no template was asked for (--no-template, or one submission)"}
    assert started["class"] == {"forked"}
