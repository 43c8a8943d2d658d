"""The ``grader`` command as users meet it: errors, result files, batches, diffs."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = Path(os.environ.get("NEEDLE_GRADER_HANDOUTS") or REPO_ROOT.parent / "shared"
               / "handouts")


def course_starter(year):
    if not (HANDOUTS / year / "apps" / "simple_ml.py").is_file():
        pytest.skip(f"the course's {year} starter is not in {HANDOUTS / year} (set NEEDLE_GRADER_HANDOUTS)")
    return HANDOUTS / year


def one_error_line(completed):
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, completed.stderr
    assert len(lines) == 1 and lines[0].startswith("grader: error: "), completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    return lines[0]


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_template_gradings_setting_that_is_no_count_is_one_clear_line(run_grader, monkeypatch, value):
    monkeypatch.setenv("NEEDLE_GRADER_TEMPLATE_GRADINGS", value)
    completed, _ = run_grader("run", "--suite", "forward", "--case", "negate", "submissions/alice")
    assert one_error_line(completed) == (f"grader: error: $NEEDLE_GRADER_TEMPLATE_GRADINGS is {value!r}: it must be "
                                         "a whole number of gradings, at least 1")


def test_a_missing_path_is_one_clear_line(run_grader):
    completed, _ = run_grader("run", "submissions/nobody")
    assert one_error_line(completed) == "grader: error: submissions/nobody: no such file or folder"


def test_a_corrupt_archive_is_one_clear_line_and_keeps_an_existing_result(run_grader, tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 truncated")
    out = tmp_path / "broken.json"
    out.write_text('{"kept": true}')
    completed, _ = run_grader("run", str(archive), "--out", str(out))
    assert "not a readable zip archive" in one_error_line(completed)
    assert json.loads(out.read_text()) == {"kept": True}


def test_a_bad_data_folder_is_one_clear_line(run_grader, tmp_path):
    completed, _ = run_grader("run", "submissions/alice", "--data", str(tmp_path))
    assert one_error_line(completed) == (f"grader: error: {tmp_path}: no MNIST files found (looked for "
                                         "t10k-images-idx3-ubyte.gz, train-images-idx3-ubyte.gz and their labels)")


def test_out_takes_one_submission(run_grader, tmp_path):
    completed, _ = run_grader("run", "submissions/alice", "submissions/bob", "--out", str(tmp_path / "x.json"))
    assert completed.returncode == 2
    assert "--out takes one submission; use --out-dir for several" in completed.stderr


def test_run_prints_a_table_and_writes_a_valid_result(run_grader, tmp_path):
    out = tmp_path / "nested" / "bob.json"
    completed, result = run_grader("run", "submissions/bob", "--suite", "softmax_loss", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    assert "softmax_loss" in completed.stdout and "total" in completed.stdout
    assert "FAIL softmax_loss[zero]: loss: 1 of 1 elements differ" in completed.stdout
    assert f"result written to {out}" in completed.stdout
    assert [suite["name"] for suite in result["suites"]] == ["softmax_loss"]
    assert (result["score"], result["max_score"]) == (7.0, 10.0)  # 3 of 10 cases fail
    assert result["environment"]["sandbox"]["layers"]["process"] == "on"
    assert not any(name.startswith(".") for name in os.listdir(out.parent)), "a temporary file was left behind"


def test_a_batch_skips_unchanged_submissions_until_forced(run_grader, tmp_path):
    out_dir = tmp_path / "results"
    args = ("run", "submissions/alice", "submissions/carol", "--suite", "topo_sort", "--out-dir", str(out_dir))
    first, _ = run_grader(*args)
    assert first.returncode == 0, first.stderr
    assert sorted(os.listdir(out_dir)) == ["alice.json", "carol.json", "summary.json"]
    assert re.search(r"^\[\d/2\] alice: 20 / 20 ", first.stdout, re.M) and re.search(r"^\[\d/2\] carol: 0 / 20 ",
                                                                                   first.stdout, re.M)
    written = (out_dir / "alice.json").stat().st_mtime_ns
    again, _ = run_grader(*args)
    assert again.returncode == 0
    assert "alice: unchanged since" in again.stdout and "carol: unchanged since" in again.stdout
    assert (out_dir / "alice.json").stat().st_mtime_ns == written
    forced, _ = run_grader(*args, "--force")
    assert re.search(r"^\[\d/2\] alice: 20 / 20 ", forced.stdout, re.M)
    assert (out_dir / "alice.json").stat().st_mtime_ns != written


def test_a_bad_path_in_a_batch_costs_only_itself(run_grader, tmp_path):
    completed, _ = run_grader("run", "submissions/nobody", "submissions/alice", "--suite", "topo_sort",
                              "--out-dir", str(tmp_path))
    assert completed.returncode == 2
    assert "grader: error: submissions/nobody: no such file or folder" in completed.stderr
    assert sorted(os.listdir(tmp_path)) == ["alice.json", "summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["submissions"]] == [("alice", "graded"),
                                                                         ("nobody", "could not grade")]
    assert summary["submissions"][1]["error"] == "submissions/nobody: no such file or folder"


def test_diff_shows_the_differing_elements(run_grader):
    completed, _ = run_grader("diff", "submissions/bob", "--case", "softmax_loss[zero]")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "softmax_loss::softmax_loss[zero]: failed"
    assert lines[1].startswith("  loss: expected float64[], got float64[] - 1 of 1 elements differ")
    assert lines[2].split() == ["index", "expected", "got", "abs", "error"]
    assert lines[3].split()[:3] == ["()", "2.302585", "2302.585"]


def test_diff_code_compares_each_solution_block(run_grader):
    completed, _ = run_grader("diff", "--code", "submissions/bob")
    assert completed.returncode == 0, completed.stderr
    assert "--- reference python/needle/ops.py Transpose.compute" in completed.stdout
    assert "+++ submission python/needle/ops.py Transpose.compute" in completed.stdout
    assert "+        # BUG (bob):" in completed.stdout or "# BUG (bob)" in completed.stdout


def test_handout_refuses_to_overwrite(run_grader, tmp_path):
    first, _ = run_grader("handout", str(tmp_path))
    assert first.returncode == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")) == [
        "apps/simple_ml.py", "python/needle/__init__.py", "python/needle/autograd.py", "python/needle/ops.py"]
    second, _ = run_grader("handout", str(tmp_path))
    assert "refusing to overwrite" in one_error_line(second)


def test_doctor_lists_every_layer(run_grader):
    completed, _ = run_grader("doctor")
    assert completed.returncode == 0
    for layer in ("process", "rlimits", "uid", "namespaces", "filesystem_view", "network_namespace", "seccomp",
                  "bubblewrap"):
        assert f"  {layer}" in completed.stdout


def test_a_grader_killed_mid_batch_leaves_finished_results_intact(run_grader, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from grader import results

    out_dir = tmp_path / "results"
    batch = ["submissions/alice", "submissions/bob", "submissions/carol", "--suite", "topo_sort", "--out-dir",
             str(out_dir)]
    grader = subprocess.Popen([sys.executable, "-m", "grader", "run", *batch], cwd=results.SCHEMA_PATH.parents[2],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out_dir / "alice.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    finished = sorted(p.name for p in out_dir.glob("*.json") if p.name != "summary.json")
    assert "alice.json" in finished
    for name in finished:
        results.validate(json.loads((out_dir / name).read_text()))
    again, _ = run_grader("run", *batch)
    assert again.returncode == 0
    assert "alice: unchanged since" in again.stdout
    assert sorted(p.name for p in out_dir.glob("*.json")) == ["alice.json", "bob.json", "carol.json", "summary.json"]


def test_a_spent_time_budget_leaves_every_case_not_run_at_0(run_grader, tmp_path):
    completed, result = run_grader("run", "submissions/alice", "--suite", "forward", "--budget", "0.001",
                                   "--out", str(tmp_path / "alice.json"))
    assert completed.returncode == 0, completed.stderr
    ((suite),) = result["suites"]
    assert {(case["status"], case["message"], case["score"]) for case in suite["cases"]} == {
        ("timeout", "not run: the time budget was spent (0.001 s for the whole submission)", 0)}
    assert len(suite["cases"]) == 25 and result["score"] == 0
    completed, _ = run_grader("run", "submissions/alice", "--budget", "0")
    assert completed.returncode == 2 and "--budget" in completed.stderr


def test_strict_scores_the_advisories(run_grader, tmp_path):
    lenient, strict = tmp_path / "lenient.json", tmp_path / "strict.json"
    for out, extra in ((lenient, ()), (strict, ("--strict",))):
        completed, _ = run_grader("run", "submissions/bob", "--suite", "topo_sort", *extra, "--out", str(out))
        assert completed.returncode == 0, completed.stderr
    lenient, strict = json.loads(lenient.read_text()), json.loads(strict.read_text())
    assert (lenient["strict"], lenient["score"], lenient["max_score"]) == (False, 20.0, 20.0)
    assert (strict["strict"], strict["score"], strict["max_score"]) == (True, 17.5, 20.0)  # 7 of 8 cases pass
    deep = [case for case in strict["suites"][0]["cases"] if case["name"] == "deep_chain"]
    assert deep[0]["advisory"] and deep[0]["max_score"] == 2.5 and deep[0]["score"] == 0


def test_the_points_of_a_strict_run_and_of_a_filtered_one_add_up_exactly(run_grader, tmp_path, unbalanced_sums):
    """Each case's share is rounded so that the suite's points add up: nn_epoch's 10 points over weights of
    1 (eight cases when strict) and 3 (full_epoch) leave full_epoch 2.7272, less than three 0.9091s."""
    strict, filtered = tmp_path / "strict.json", tmp_path / "filtered.json"
    completed, strict = run_grader("run", "submissions/bob", "--strict", "--out", str(strict))
    assert completed.returncode == 0, completed.stderr
    assert [(suite["name"], suite["score"]) for suite in strict["suites"]] == [
        ("forward", 9.2), ("backward", 16.6668), ("topo_sort", 17.5), ("compute_gradient", 0.0),
        ("softmax_loss", 7.0), ("nn_epoch", 1.8182)]
    # backward's 25 points over 36 cases: 16 of 0.6945 and 20 of 0.6944; bob passes 12 of each
    assert (strict["score"], strict["max_score"]) == (52.185, 100.0)
    epoch = {case["name"]: case["max_score"] for case in strict["suites"][-1]["cases"]}
    assert (epoch["relu_forward"], epoch["full_epoch"]) == (0.9091, 2.7272)
    assert unbalanced_sums(strict) == []
    assert ["total", "52.19", "/", "100"] in [line.split() for line in completed.stdout.splitlines()]

    completed, filtered = run_grader("run", "submissions/bob", "--case", "broadcast_to*", "--case", "deep_chain",
                                     "--case", "lr_and_batch*", "--case", "full_epoch", "--out", str(filtered))
    assert completed.returncode == 0, completed.stderr
    assert [(suite["name"], suite["score"], suite["max_score"]) for suite in filtered["suites"]] == [
        ("backward", 1.4286, 7.143), ("topo_sort", 0.0, 0.0), ("nn_epoch", 0.0, 5.5556)]
    assert (filtered["score"], filtered["max_score"]) == (1.4286, 12.6986)
    # each case keeps the share it has in a full run: 30 of backward's 35 cases get 0.7143, 5 get 0.7142, and
    # the ten broadcast_to cases are among the first
    assert [case["max_score"] for case in filtered["suites"][0]["cases"]] == [0.7143] * 10
    assert unbalanced_sums(filtered) == []
    assert completed.stdout.startswith("bob: 1.43 / 12.7\n")


def test_a_batch_may_mix_handout_years(run_grader, tmp_path):
    """Each submission is graded as the year its files show, against that year's reference."""
    for year, with_solutions in (("2022", True), ("2023", False), ("2024", True), ("2025", True)):
        completed, _ = run_grader("handout", "--year", year, *(["--with-solutions"] if with_solutions else []),
                                  str(tmp_path / f"class-{year}"))
        assert completed.returncode == 0, completed.stderr
    out_dir = tmp_path / "results"
    completed, _ = run_grader("run", *(str(tmp_path / f"class-{year}") for year in ("2022", "2023", "2024", "2025")),
                              "--out-dir", str(out_dir))
    assert completed.returncode == 0, completed.stderr
    graded = {path.stem: json.loads(path.read_text()) for path in out_dir.glob("class-*.json")}
    assert {name: (result["handout"], result["score"]) for name, result in graded.items()} == {
        "class-2022": ("2022", 100.0), "class-2023": ("2023", 0.0), "class-2024": ("2024", 100.0),
        "class-2025": ("2025", 100.0)}
    powers = {name: any(case["name"].startswith("power[") for suite in result["suites"] for case in suite["cases"])
              for name, result in graded.items()}
    assert powers == {"class-2022": False, "class-2023": False, "class-2024": True, "class-2025": True}
    assert graded["class-2024"]["environment"]["reference"]["origin"] == "published"


def test_a_submission_whose_year_cannot_be_told_is_one_clear_line_unless_year_is_given(run_grader, tmp_path):
    completed, _ = run_grader("run", "submissions/erin", "--suite", "topo_sort")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "grader: error: submissions/erin: cannot tell which handout year it is built on (2022 or 2023 or 2024 or "
        "2025): found none of the needle files that tell the years apart; pass --year"]
    out = tmp_path / "erin.json"
    completed, result = run_grader("run", "submissions/erin", "--suite", "topo_sort", "--year", "2024",
                                   "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    assert result["handout"] == "2024" and "handout: 2024" in completed.stdout
    assert ("python/needle/ops/ops_mathematic.py was not submitted: the 2024 starter's version was used"
            in result["notes"])
    assert result["detection"] == {"by": "--year", "warning": None, "findings": []}


def test_the_year_is_told_from_the_starters_code_when_a_students_markers_are_gone(run_grader, tmp_path):
    """A real 2025 submission: Tensor.numpy() copies, EWisePow written out and its markers removed."""
    from corpus import STUDENTS, build
    from grader import gradescope, handout

    folder = build(course_starter("2025"), STUDENTS["ada"], tmp_path / "nia")
    ops = folder / "python" / "needle" / "ops" / "ops_mathematic.py"
    ops.write_text(handout.rewrite_blocks(ops.read_text(), "ops", lambda block, lines: lines[1:-1]
                                          if block.function.startswith("EWisePow.") else lines))
    completed, result = run_grader("run", str(folder), "--out", str(tmp_path / "nia.json"))
    assert completed.returncode == 0, completed.stderr
    assert (result["handout"], result["score"]) == ("2025", 100.0)
    unmarked = "without solution markers, where the file keeps others"
    assert [(finding["what"], finding["years"]) for finding in result["detection"]["findings"]
            if not finding["agrees"]] == [(f"EWisePow.compute {unmarked}", ["2022", "2023"]),
                                          (f"EWisePow.gradient {unmarked}", ["2022", "2023"])]
    assert ("Tensor.numpy() returns a copy", ["2025"]) in [(finding["what"], finding["years"])
                                                           for finding in result["detection"]["findings"]]
    assert completed.stderr.splitlines() == [
        f"grader: warning: nia: {result['detection']['warning']}"]
    assert result["detection"]["warning"] == (
        f"graded as the 2025 handout, which its weightier findings show; disagreeing: EWisePow.compute {unmarked} "
        f"(python/needle/ops/ops_mathematic.py: 2022 or 2023); EWisePow.gradient {unmarked} "
        "(python/needle/ops/ops_mathematic.py: 2022 or 2023)")
    assert (f"  handout: 2025, though 2 findings point elsewhere: EWisePow.compute {unmarked} (2022 or 2023); "
            "and 1 more (-v)") in completed.stdout.splitlines()
    # Gradescope, where the student reads only the output, shows the same warning
    warning = (f"Warning: {result['detection']['warning']}. If you started from another year's handout, ask your "
               "instructor to regrade it as that year.")
    assert gradescope.results_json(result)["output"].splitlines()[:2] == [
        f"Graded as the course's 2025 handout, with needle-grader {result['environment']['grader']}.", warning]


def test_a_file_linked_out_of_the_submission_comes_from_the_starter_of_the_year_the_rest_shows(run_grader, tmp_path):
    """A real 2022 submission whose python/needle/ops.py is a link out of it: its flat autograd.py says 2022."""
    from corpus import STUDENTS, build

    folder = build(course_starter("2022"), STUDENTS["ada"], tmp_path / "ola")
    elsewhere = tmp_path / "elsewhere.py"
    (folder / "python" / "needle" / "ops.py").rename(elsewhere)
    (folder / "python" / "needle" / "ops.py").symlink_to(elsewhere)
    completed, result = run_grader("run", str(folder), "--suite", "topo_sort", "--out", str(tmp_path / "ola.json"))
    assert completed.returncode == 0, completed.stderr
    assert (result["handout"], result["score"], result["detection"]["warning"]) == ("2022", 20.0, None)
    assert completed.stderr == ""
    assert result["files"]["python/needle/ops.py"] == "starter"
    assert result["notes"][:1] == ["python/needle/ops.py is a link out of the submission, which is ignored: the 2022 "
                                   "starter's version was used"]
    assert "note: python/needle/ops.py is a link out of the submission, which is ignored" in completed.stdout
    assert [finding["what"] for finding in result["detection"]["findings"]] == [
        "Tensor.numpy() returns its data", "the Tensor defines __rsub__ and __rmatmul__",
        "autograd.py defines the devices", "backward() starts from numpy.ones", "an op on constants keeps its graph",
        "needle does not import needle.init"]


def test_several_homework_folders_in_one_archive_are_one_clear_line(run_grader, tmp_path):
    import zipfile

    archive = tmp_path / "drive.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for root in ("MyDrive/10714/hw1/", "MyDrive/10714/hw1 (1)/"):
            for path in Path("submissions/alice").rglob("*.py"):
                writer.write(path, root + path.relative_to("submissions/alice").as_posix())
    completed, _ = run_grader("run", str(archive))
    assert one_error_line(completed) == (f"grader: error: {archive}: several homework folders in one submission: "
                                         "MyDrive/10714/hw1 (1)/, MyDrive/10714/hw1/; hand in one")


def _class_folder(tmp_path):
    """A class of five: two folders, a zip, a tar.gz and a corrupt archive."""
    import tarfile
    import zipfile

    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree("submissions/alice", folder / "alice")
    shutil.copytree("submissions/carol", folder / "carol")
    with zipfile.ZipFile(folder / "bob.zip", "w") as archive:
        for path in Path("submissions/bob").rglob("*.py"):
            archive.write(path, Path("bob") / path.relative_to("submissions/bob"))
    with tarfile.open(folder / "dave.tar.gz", "w:gz") as archive:
        archive.add("submissions/dave", "dave")
    (folder / "zed.zip").write_bytes(b"not a zip at all")
    (folder / "notes.txt").write_text("not a submission\n")
    return folder


def test_a_class_folder_is_graded_in_parallel_with_a_summary(run_grader, tmp_path):
    out_dir = tmp_path / "results"
    completed, _ = run_grader("run", "--batch", str(_class_folder(tmp_path)), "--jobs", "2", "--suite", "topo_sort",
                              "--year", "2022", "--out-dir", str(out_dir))
    assert completed.returncode == 2   # zed.zip could not be graded
    assert completed.stderr.strip().splitlines()[-1].startswith("grader: error: ") and "zed.zip" in completed.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["alice.json", "bob.json", "carol.json", "dave.json",
                                                         "summary.json"]
    summary = json.loads((out_dir / "summary.json").read_text())
    assert (summary["graded"], summary["could_not_grade"]) == (4, 1)
    entries = {entry["name"]: entry for entry in summary["submissions"]}
    assert {name: entry.get("score") for name, entry in entries.items()} == {
        "alice": 20.0, "bob": 20.0, "carol": 0.0, "dave": 0.0, "zed": None}
    assert entries["alice"]["suites"] == {"topo_sort": 20.0} and entries["alice"]["result"] == "alice.json"
    assert entries["zed"]["status"] == "could not grade" and "not a readable zip archive" in entries["zed"]["error"]
    uids = {json.loads((out_dir / f"{name}.json").read_text())["environment"]["sandbox"]["uid"]
            for name in ("alice", "bob", "carol", "dave")}
    assert len(uids) <= 2   # one per job


def test_default_jobs_fit_the_memory_and_say_so_when_lowered():
    from grader import batch

    jobs, lowered = batch.default_jobs(1 << 20)
    assert jobs == len(os.sched_getaffinity(0)) and lowered is None
    jobs, lowered = batch.default_jobs(1 << 50)
    assert jobs == 1 and lowered.startswith("1 jobs, not ") or len(os.sched_getaffinity(0)) == 1


def test_ctrl_c_stops_a_batch_cleanly_and_a_rerun_grades_only_the_rest(run_grader, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "class"
    folder.mkdir()
    alice = REPO_ROOT / "submissions" / "alice"
    for name in ("a1", "a3", "a4", "a5", "a6"):
        (folder / name).symlink_to(alice, target_is_directory=True)
    # a2 is still grading when a1 is done, however busy the machine: the interrupt lands mid-batch
    shutil.copytree(alice, folder / "a2")
    simple_ml = folder / "a2" / "apps" / "simple_ml.py"
    simple_ml.write_text(simple_ml.read_text().replace("def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):\n",
                                                        "def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):\n"
                                                        "    __import__('time').sleep(60)\n", 1))
    out_dir = tmp_path / "results"
    args = ["run", "--batch", str(folder), "--jobs", "1", "--suite", "nn_epoch", "--out-dir", str(out_dir)]
    # Ctrl-C as at a terminal, also where the tests themselves were started in the background with SIGINT ignored
    grader = subprocess.Popen([sys.executable, "-m", "grader", *args], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out_dir / "a1.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    grader.send_signal(signal.SIGINT)
    stdout, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "grader: interrupted; results already written are complete"
    summary = json.loads((out_dir / "summary.json").read_text())
    finished = {p.stem for p in out_dir.glob("a*.json")}
    assert {entry["name"] for entry in summary["submissions"]} == finished == {"a1"}
    shutil.copy(alice / "apps" / "simple_ml.py", simple_ml)
    again, _ = run_grader(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged since") == 1
    assert len(json.loads((out_dir / "summary.json").read_text())["submissions"]) == 6


def test_on_a_terminal_a_batch_shows_live_progress(tmp_path):
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    grader = subprocess.Popen([sys.executable, "-m", "grader", "run", "submissions/alice", "submissions/carol",
                               "--suite", "topo_sort", "--out-dir", str(tmp_path)], stdout=slave, stderr=slave,
                              cwd=REPO_ROOT, env=dict(os.environ, COLUMNS="160"))
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        output += chunk
    assert grader.wait(timeout=120) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
    assert "2/2 0 running, 0 could not grade elapsed" in text
    assert re.search(r"\[\d/2\] alice: 20 / 20 ", text) and re.search(r"\[\d/2\] carol: 0 / 20 ", text)


def test_check_tells_a_student_per_question_what_to_fix(run_grader):
    completed, _ = run_grader("check", "submissions/bob")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert not re.search(r"^  (sandbox|data|reference): ", out, re.M)
    assert re.search(r"^  Q1 forward +9\.2 / 10   23/25 passed$", out, re.M)
    assert re.search(r"^  Q3 topo_sort +20 / 20   6/6 passed, tips 1/2$", out, re.M)
    assert "    TIP deep_chain: RecursionError" in out
    assert out.rstrip().endswith("Your instructor may grade with fresh inputs: every case is drawn anew, so only "
                                 "code that computes its answers passes both.")


def test_a_failing_case_takes_at_most_two_lines_unless_verbose(run_grader):
    completed, _ = run_grader("run", "submissions/bob")
    lines = completed.stdout.splitlines()
    marks = ("    FAIL ", "    ERROR ", "    TIMEOUT ", "    TIP ")
    starts = [i for i, line in enumerate(lines) if line.startswith(marks)]
    assert len(starts) == 33   # bob's cases that do not pass (tests/test_grading.py)
    for start, end in zip(starts, starts[1:] + [len(lines)]):
        case_lines = [line for line in lines[start:end] if line.startswith("        ")]
        assert len(case_lines) <= 1, lines[start:end]
    transpose = lines[starts[0]:starts[0] + 2]
    assert transpose == ["    ERROR transpose[2x3x4-axes01]: ValueError: axes don't match array",
                         "        at python/needle/ops.py, line 190, in Transpose.compute: "
                         "return array_api.transpose(a, self.axes)"]
    verbose, _ = run_grader("run", "submissions/bob", "-v")
    assert "        python/needle/autograd.py, line" in verbose.stdout   # the whole traceback
