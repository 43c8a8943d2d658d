"""The ``grader`` command as users meet it: errors, result files, batches, diffs."""

import json
import os



def one_error_line(completed):
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, completed.stderr
    assert len(lines) == 1 and lines[0].startswith("grader: error: "), completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    return lines[0]


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
    assert sorted(os.listdir(out_dir)) == ["alice.json", "carol.json"]
    assert "[1/2] alice: 20 / 20" in first.stdout and "[2/2] carol: 0 / 20" in first.stdout
    written = (out_dir / "alice.json").stat().st_mtime_ns
    again, _ = run_grader(*args)
    assert again.returncode == 0
    assert "alice: unchanged since" in again.stdout and "carol: unchanged since" in again.stdout
    assert (out_dir / "alice.json").stat().st_mtime_ns == written
    forced, _ = run_grader(*args, "--force")
    assert "[1/2] alice: 20 / 20" in forced.stdout
    assert (out_dir / "alice.json").stat().st_mtime_ns != written


def test_a_bad_path_in_a_batch_costs_only_itself(run_grader, tmp_path):
    completed, _ = run_grader("run", "submissions/nobody", "submissions/alice", "--suite", "topo_sort",
                              "--out-dir", str(tmp_path))
    assert completed.returncode == 2
    assert "grader: error: submissions/nobody: no such file or folder" in completed.stderr
    assert os.listdir(tmp_path) == ["alice.json"]


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
    finished = sorted(p.name for p in out_dir.glob("*.json"))
    assert "alice.json" in finished
    for name in finished:
        results.validate(json.loads((out_dir / name).read_text()))
    again, _ = run_grader("run", *batch)
    assert again.returncode == 0
    assert "alice: unchanged since" in again.stdout
    assert sorted(p.name for p in out_dir.glob("*.json")) == ["alice.json", "bob.json", "carol.json"]


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
    graded = {path.stem: json.loads(path.read_text()) for path in out_dir.glob("*.json")}
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
    assert "python/needle/ops/ops_mathematic.py was not submitted: the starter version was used" in result["notes"]
