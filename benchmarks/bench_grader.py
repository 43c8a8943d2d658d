"""How much grading costs beyond the computations themselves.

Compares, median of several interleaved runs after a warm-up:
- bare: one plain Python process that imports the submission and computes
  every case's values (the suites' own functions, called directly: no
  pytest, no sandbox, no transfer, no comparison);
- graded: ``Session.grade`` of the same submission with every protection
  this machine offers, its children exec'd (``--no-template``) and forked
  from a warm template (``grader/template.py``), and with isolation off
  (process and rlimits only, exec'd);
- the whole ``grader run`` command, start-up included.

Overhead is graded time minus the time the child spent inside cases; the
child's start-up is the result's ``timing``, both ways. Then the two layouts
against each other: the generated solutions of 2022 (flat) and of 2024 (the
package layout), graded alike, interleaved.

    python benchmarks/bench_grader.py [--submission submissions/alice] [--data DIR] [--runs 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from grader import grading, isolation, years  # noqa: E402

BARE = r"""
import importlib.util, json, os, sys, time
started = time.perf_counter()
kit_root, submission, images, labels, student, year = sys.argv[1:7]
sys.path.insert(0, kit_root)
from needle_grader_kit import harness
import numpy, numdifftools  # what the child imports too

class Bare(harness.Run):
    def send(self, header, payload=b""):
        pass

config = {"mode": "grade", "submission": submission, "data": {"images": images, "labels": labels}, "seed": 0,
          "blocked_imports": {}, "scratch": os.environ["BENCH_SCRATCH"], "max_value_bytes": 1 << 30,
          "student": json.loads(student), "year": year}
harness.RUN = run = Bare(config, -1)
harness.simple_ml()  # imported before the first case, as in the child
run.student.install(run.student.names)
suites = os.path.join(kit_root, "needle_grader_kit", "suites")
cases = 0
for name in sorted(os.listdir(suites)):
    if not name.startswith("test_"):
        continue
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(suites, name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in dir(module):
        function = getattr(module, attr)
        if not attr.startswith("test_") or not callable(function):
            continue
        marks = getattr(function, "pytestmark", [])
        meta = next((mark.kwargs for mark in marks if mark.name == "case"), {})
        checks = meta.get("checks", ())
        if not set(checks) <= run.student.names or year not in (meta.get("years") or (year,)):
            continue  # not graded in this handout
        calls = [()]
        for mark in marks:
            if mark.name == "parametrize":
                names, values = mark.args[0], mark.args[1]
                single = "," not in names
                calls = [c + ((v,) if single else tuple(v)) for c in calls for v in values]
        for args in calls:
            run.case = f"{name[5:-3]}::{attr[5:]}{list(args)}"
            run.student.begin(checks)
            function(*args)
            run.student.end()
            cases += 1
print(json.dumps({"seconds": time.perf_counter() - started, "cases": cases}))
"""


def bare_run(workspace, submission, dataset, year):
    scratch = os.path.join(workspace.root, "bench-scratch")
    os.makedirs(scratch, exist_ok=True)
    env = dict(os.environ, BENCH_SCRATCH=scratch, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-I", "-c", BARE, workspace.kit_root, submission, dataset.images,
                          dataset.labels, json.dumps(years.student_functions(year)), year],
                         capture_output=True, text=True, env=env, check=True)
    total = time.perf_counter() - started
    return total, json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", default=os.path.join(REPO, "submissions", "alice"))
    parser.add_argument("--data", default=None, help="MNIST folder (default: the generated dataset)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with grading.Session(args.data) as isolated, grading.Session(args.data, template=True) as forked, \
            grading.Session(args.data, disabled_layers=isolation.LAYER_ORDER[2:]) as plain:
        staged = isolated.stage(args.submission)
        staged_forked = forked.stage(args.submission)
        staged_plain = plain.stage(args.submission)
        timings = {"bare": [], "isolated": [], "forked": [], "plain": [], "command": [], "in_cases": [],
                   "in_cases_forked": [], "in_cases_plain": [], "startup_forked": [],
                   **{key: [] for key in ("child_startup_s", "comparison_s", "other_s")}}
        for run in range(args.runs + 1):
            bare_total, _ = bare_run(isolated.workspace, staged.directory, isolated.dataset, staged.year)
            started = time.perf_counter()
            result = isolated.grade(staged)
            isolated_total = time.perf_counter() - started
            started = time.perf_counter()
            result_forked = forked.grade(staged_forked)
            forked_total = time.perf_counter() - started
            started = time.perf_counter()
            result_plain = plain.grade(staged_plain)
            plain_total = time.perf_counter() - started
            started = time.perf_counter()
            command = [sys.executable, "-m", "grader", "run", args.submission, "--json"]
            if args.data:
                command += ["--data", args.data]
            subprocess.run(command, cwd=REPO, capture_output=True, check=True)
            command_total = time.perf_counter() - started
            if run == 0:
                continue  # warm-up
            assert result_forked["score"] == result["score"], (result_forked["score"], result["score"])
            for key, value in (("bare", bare_total), ("isolated", isolated_total), ("forked", forked_total),
                               ("plain", plain_total), ("command", command_total),
                               ("in_cases", _in_cases(result)), ("in_cases_forked", _in_cases(result_forked)),
                               ("in_cases_plain", _in_cases(result_plain)),
                               ("startup_forked", result_forked["timing"]["child_startup_s"])):
                timings[key].append(value)
            for key in ("child_startup_s", "comparison_s", "other_s"):
                timings[key].append(result["timing"][key])
        median = {key: statistics.median(values) for key, values in timings.items()}
        print(f"submission: {args.submission}; data: {isolated.dataset.describe()}; runs: {args.runs}")
        print(f"score: {result['score']} / {result['max_score']}; sandbox: {isolated.sandbox.summary()['layers']}")
        print(f"forked children: {grading.describe_children(forked.sandbox, forked.children)}")
        print(f"bare computation (fresh process)      {median['bare']:7.3f} s")
        print(f"graded, isolated, exec'd children      {median['isolated']:7.3f} s"
              f"   ratio to bare {median['isolated'] / median['bare']:.2f}")
        print(f"graded, isolated, forked children      {median['forked']:7.3f} s"
              f"   ratio to exec'd {median['forked'] / median['isolated']:.2f}")
        print(f"graded, isolation off                  {median['plain']:7.3f} s")
        print(f"whole `grader run` command             {median['command']:7.3f} s")
        print(f"time inside cases (isolated)           {median['in_cases']:7.3f} s")
        print(f"fixed cost per submission (exec'd)     {median['isolated'] - median['in_cases']:7.3f} s")
        print(f"fixed cost per submission (forked)     {median['forked'] - median['in_cases_forked']:7.3f} s")
        print(f"fixed cost per submission (plain)      {median['plain'] - median['in_cases_plain']:7.3f} s")
        print(f"isolation adds                         {median['isolated'] - median['plain']:7.3f} s")
        print("child start-up, the result's timing (python, imports, confinement, the submission's import):")
        print(f"  exec'd (--no-template)                             {median['child_startup_s']:7.3f} s")
        print(f"  forked from the warm template                      {median['startup_forked']:7.3f} s"
              f"   (target <= 0.1)")
        print("where the rest of the fixed cost goes (exec'd):")
        print(f"  comparison with the reference                      {median['comparison_s']:7.3f} s")
        print(f"  the rest (pytest between cases, transfer, sweep)   {median['other_s']:7.3f} s")
        compare_layouts(isolated, args.runs)


def _in_cases(result):
    return sum(case["duration_s"] for suite in result["suites"] for case in suite["cases"])


def compare_layouts(session, runs):
    """Grading a package-layout submission against a flat one: the generated solutions of 2022 and 2024."""
    staged = {}
    for year in ("2022", "2024"):
        folder = os.path.join(session.workspace.root, f"solution-{year}")
        years.write_handout(folder, with_solutions=True, year=year)
        staged[year] = session.stage(folder)
    times = {year: [] for year in staged}
    for run in range(runs + 1):
        for year, submission in staged.items():
            started = time.perf_counter()
            result = session.grade(submission)
            if run:
                times[year].append(time.perf_counter() - started)
            assert result["score"] == 100.0, (year, result["score"])
    median = {year: statistics.median(values) for year, values in times.items()}
    cases = {year: len(session.selected(year)) for year in staged}
    print(f"layouts, the generated solution graded (isolated), median of {runs}:")
    print(f"  2022, flat layout       {median['2022']:7.3f} s   {cases['2022']} cases")
    print(f"  2024, package layout    {median['2024']:7.3f} s   {cases['2024']} cases"
          f"   ratio to flat {median['2024'] / median['2022']:.2f}")


if __name__ == "__main__":
    main()
