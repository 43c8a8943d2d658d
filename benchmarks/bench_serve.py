"""Throughput of the course service against grading the same class as a batch, in one run.

A class of SUBMISSIONS uploads (the 2022 samples and generated variants of
the 2022 solution, each missing one student function, repeated) is posted by
CLIENTS concurrent clients, each watching its own submissions as a student's
page does, to a real ``grader serve`` on loopback. Throughput is submissions
per minute from the first upload to the last result; the time from upload to
result comes from the service's own records. Then ``grader run --batch`` grades
the same submissions with as many jobs, and the two are compared (target:
the service at least 0.8x the batch), and every upload must be graded once,
with the batch's score.

With ``--database`` and ``--queue`` (PostgreSQL and Redis or PostgreSQL), the
web app runs alone and ``grader worker`` processes grade, first one and then
two (``--jobs 1`` each): the ratio of their throughputs is the scaling
(target: two at least 1.6x one, on 2 cores).

    python benchmarks/bench_serve.py [--submissions 200] [--clients 20] [--workers 2]
    python benchmarks/bench_serve.py --database postgresql://... --queue redis://... [--submissions 100]
"""

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

from bench_batch import generated_class  # noqa: E402
from service import Server, database, grader, make_course, wait_for, zipped  # noqa: E402

SAMPLES = ("alice", "bob", "carol", "dave")


def build_class(folder, count):
    """``count`` submission folders of 2022: the samples and generated variants, in turn."""
    distinct = [os.path.join(REPO, "submissions", name) for name in SAMPLES]
    distinct += [path for path in generated_class(os.path.join(folder, "distinct"), 64) if "2022-" in path]
    paths = []
    for index in range(count):
        target = os.path.join(folder, "class", f"s{index:03d}")
        shutil.copytree(distinct[index % len(distinct)], target, ignore=shutil.ignore_patterns("__pycache__"))
        paths.append(target)
    return paths


def post_and_watch(url, token, archives, stop):
    """One client: upload its archives back to back, then watch its list until all are graded."""
    from grader.serve.client import Client

    client = Client(url, token)
    for name, data in archives:
        client.submit(name, data)
    while not stop.is_set():
        mine = client._call("GET", "/api/submissions")
        if all(entry["status"] in ("graded", "could not grade") for entry in mine):
            return
        time.sleep(1.0)


def timings(folder):
    """``(seconds from first upload to last result, [upload-to-result seconds], {archive: score})``."""
    from sqlalchemy import select

    from grader.serve.models import Job

    db = database(folder)
    with db.session() as session:
        done = session.scalars(select(Job).where(Job.purpose == "submission")).all()
        assert all(job.state == "done" for job in done), "a submission was not graded"
        waits = [(job.finished_at - job.submission.submitted_at).total_seconds() for job in done]
        span = (max(job.finished_at for job in done) - min(job.submission.submitted_at for job in done))
        scores = {job.submission.archive_name: job.score for job in done}
        per_submission = {job.submission_id for job in done}
        assert len(per_submission) == len(done), "a submission was graded twice"
    db.close()
    return span.total_seconds(), waits, scores


def fresh_database(url, run):
    """A new, empty database beside the one ``url`` names, for one run: a course's records live in its database."""
    from sqlalchemy import create_engine, make_url, text

    name = f"{make_url(url).database}_bench_{os.getpid()}_{run}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def serve_once(root, paths, clients, workers, database_url=None, queue_url=None, processes=0):
    """Grade the class through the service; ``(span, waits, scores)``."""
    folder = os.path.join(root, f"course-{processes or workers}-{time.monotonic_ns()}")
    tokens = make_course(folder, students=[f"student{index:02d}" for index in range(clients)], database=database_url,
                         queue=queue_url)
    archives = [(f"{os.path.basename(path)}.zip", zipped(path)) for path in paths]
    server = Server(folder, workers=0 if processes else workers).start()
    started = []
    try:
        env = {**os.environ, "NEEDLE_GRADER_DATABASE": database_url or "", "NEEDLE_GRADER_QUEUE": queue_url or ""}
        started = [subprocess.Popen([sys.executable, "-m", "grader", "worker", "--jobs", "1"], env=env, cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(processes)]
        if processes:
            time.sleep(3)   # the workers load the course's reference before taking jobs
        stop = threading.Event()
        shares = [archives[index::clients] for index in range(clients)]
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(post_and_watch, server.url, token, share, stop)
                       for token, share in zip(tokens.values(), shares)]
            for future in futures:
                future.result()
    finally:
        for process in started:
            process.terminate()
            process.wait()
        server.close()
    return timings(folder)


def batch_once(paths, jobs):
    """``grader run --batch`` of the class: ``(seconds, {name: score})``."""
    import json

    class_dir = os.path.dirname(paths[0])
    out = tempfile.mkdtemp(prefix="bench-serve-batch-")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "run", "--batch", class_dir, "--jobs", str(jobs), "--quiet",
                    "--out-dir", out], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with open(os.path.join(out, "summary.json")) as handle:
        scores = {entry["name"] + ".zip": entry["score"] for entry in json.load(handle)["submissions"]}
    shutil.rmtree(out)
    return seconds, scores


def report(label, count, span, waits=None):
    line = f"{label:<28}{span:8.1f} s  {count / span * 60:7.1f} submissions per minute"
    if waits:
        waits = sorted(waits)
        line += (f";  upload to result: median {statistics.median(waits):.1f} s, "
                 f"p95 {waits[int(0.95 * (len(waits) - 1))]:.1f} s")
    print(line, flush=True)
    return count / span


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="grading processes of grader serve, and batch jobs")
    parser.add_argument("--database", help="a PostgreSQL URL: measure one worker process against two, each run in a "
                                           "new database beside it")
    parser.add_argument("--queue", help="with --database: a Redis or PostgreSQL queue URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as root:
        paths = build_class(root, args.submissions)
        print(f"{len(paths)} submissions, {args.clients} clients, cpus {len(os.sched_getaffinity(0))}", flush=True)
        if args.database:
            rates = {}
            for processes in (1, 2):
                span, waits, _ = serve_once(root, paths, args.clients, 0, fresh_database(args.database, processes),
                                            args.queue, processes)
                rates[processes] = report(f"{processes} worker process{'es' if processes > 1 else ''}", len(paths),
                                          span, waits)
            print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f} (target >= 1.6)")
            return
        span, waits, served = serve_once(root, paths, args.clients, args.workers)
        service_rate = report(f"grader serve --workers {args.workers}", len(paths), span, waits)
        seconds, batched = batch_once(paths, args.workers)
        batch_rate = report(f"grader run --batch --jobs {args.workers}", len(paths), seconds)
        differ = {name for name in batched if abs(batched[name] - served.get(name, -1)) > 1e-6}
        print(f"graded by both: {len(served)} and {len(batched)}; scores that differ: {len(differ)}")
        print(f"ratio service / batch throughput: {service_rate / batch_rate:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
