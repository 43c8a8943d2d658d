"""Throughput of a whole class: the same batch graded with --jobs 1 and with --jobs N, its children forked
from a warm template (as ``grader run`` does for a class) and exec'd (``--no-template``).

The class is the samples (alice, bob, carol, dave) and generated variants: each
year's generated solution with one student function left unwritten, in turn.
The batches run in two grading sessions, one forking and one exec'ing (the same
sandbox, data and references), interleaved, after a warm-up; the figures are the
medians of the runs and their ratios. Both ways must give every submission the
same score.

    python benchmarks/bench_batch.py [--jobs 2] [--runs 3] [--variants 16] [--data DIR]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from grader import batch, grading, handout, years  # noqa: E402

SAMPLES = ("alice", "bob", "carol", "dave")


def generated_class(folder, count):
    """``count`` variants of the generated solutions, each missing one student function."""
    paths = []
    variants = [(year, function) for _, function in years.student_functions("2022") for year in ("2022", "2024")]
    for year, function in variants[:count]:
        target = os.path.join(folder, f"{year}-{function}")
        years.write_handout(target, with_solutions=True, year=year)
        for course_path, text in years.course_sources(year, with_solutions=True).items():
            if any(block.function == function for block in handout.find_solution_blocks(text, course_path)):
                unwritten = handout.fill_solutions(text, course_path, {function: "raise NotImplementedError()"})
                with open(os.path.join(target, course_path), "w") as out:
                    out.write(unwritten)
        paths.append(target)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", type=int, default=16)
    parser.add_argument("--data", default=None, help="MNIST folder (default: the generated dataset)")
    args = parser.parse_args()
    ways = ("forked", "exec'd")
    with tempfile.TemporaryDirectory() as folder, grading.Session(args.data, template=True) as forked, \
            grading.Session(args.data) as exec_d:
        sessions = {"forked": forked, "exec'd": exec_d}
        paths = [os.path.join(REPO, "submissions", name) for name in SAMPLES] + generated_class(folder, args.variants)
        for session in sessions.values():
            for year in years.YEARS:
                session.reference(year)  # loaded before timing
        times = {(way, jobs): [] for way in ways for jobs in (1, args.jobs)}
        scores = {}
        for run in range(args.runs + 1):
            for way, jobs in times:
                started = time.perf_counter()
                outcomes = batch.Batch(sessions[way], paths, jobs=jobs).run()
                if run:
                    times[way, jobs].append(time.perf_counter() - started)
                assert all(outcome.status == "graded" for outcome in outcomes)
                scores.setdefault(way, {outcome.name: outcome.result["score"] for outcome in outcomes})
        children = grading.describe_children(forked.sandbox, forked.children)
    assert scores["forked"] == scores["exec'd"], "forked and exec'd children gave different scores"
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"{len(paths)} submissions ({len(SAMPLES)} samples, {len(paths) - len(SAMPLES)} generated variants); "
          f"cpus {len(os.sched_getaffinity(0))}; runs {args.runs} after a warm-up")
    print(f"forked children: {children}")
    for (way, jobs), seconds in median.items():
        print(f"{way:7} --jobs {jobs}: {seconds:6.2f} s  {len(paths) / seconds * 60:7.1f} submissions per minute")
    for way in ways:
        print(f"{way:7} ratio --jobs {args.jobs} / --jobs 1: {median[way, args.jobs] / median[way, 1]:.2f}")
    for jobs in (1, args.jobs):
        ratio = median["forked", jobs] / median["exec'd", jobs]
        print(f"--jobs {jobs}: forked / exec'd (--no-template) {ratio:.2f}" + ("   (target <= 0.6)" if jobs == 1 else ""))


if __name__ == "__main__":
    main()
