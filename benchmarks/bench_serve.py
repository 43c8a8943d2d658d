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

With ``--deadline``, a deadline: STUDENTS students (300) each sign in on the
pages, upload their homework from the page at a moment spread over the
first 60 s, open its page and poll it every 2 s (as the page's script does)
until it is graded, then fetch its feedback, while ``grader serve`` grades
with WORKERS processes. It reports the latency of the page and API requests
(p50, p95, p99), the polls' while grading ran, every error (a status the
page would not expect, or no answer), the time from the first upload to the
last result, and whether each upload was graded exactly once. Targets: no
error, none lost or graded twice, polls' p95 under 500 ms while grading
runs.

    python benchmarks/bench_serve.py [--submissions 200] [--clients 20] [--workers 2]
    python benchmarks/bench_serve.py --database postgresql://... --queue redis://... [--submissions 100]
    python benchmarks/bench_serve.py --deadline [--students 300] [--workers 2] [--window 60] [--poll 2]
"""

import argparse
import asyncio
import concurrent.futures
import html
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

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


class Latencies:
    """Every request's kind, start (seconds into the run), latency and outcome; the errors among them."""

    def __init__(self):
        self.records, self.errors = [], []

    def add(self, kind, started, seconds, error=None):
        self.records.append((kind, started, seconds))
        if error:
            self.errors.append(f"{kind}: {error}")

    def report(self, label, kinds, within=None):
        chosen = sorted(seconds for kind, started, seconds in self.records if kind in kinds
                        and (within is None or within[0] <= started <= within[1]))
        if not chosen:
            return None
        def at(share):
            return chosen[min(len(chosen) - 1, int(share * len(chosen)))] * 1000
        print(f"{label:<34}{len(chosen):6d} requests  p50 {at(0.5):7.1f} ms  p95 {at(0.95):7.1f} ms  "
              f"p99 {at(0.99):7.1f} ms  max {chosen[-1] * 1000:7.1f} ms", flush=True)
        return at(0.95)


GIVE_UP_SECONDS = 1200      # after the uploads, how long the students wait for their results at most
PAGE_KINDS = ("GET /signin", "POST /signin", "GET /me", "POST /submit", "GET /submissions/N",
              "GET /submissions/N/feedback")


class Connection:
    """One student's browser, as far as the benchmark needs: HTTP/1.1 over one kept-alive connection, with its
    cookie. It is this small because it shares the two cores with the service it measures (httpx took about
    10 ms of CPU a request, more than the service's own)."""

    def __init__(self, url, timeout):
        self.host, self.port = url.split("://", 1)[1].rsplit(":", 1)
        self.timeout, self.cookie, self.reader, self.writer = timeout, None, None, None

    async def request(self, method, path, body=b"", content_type=None, accept=None):
        """``(status, {header: value}, body)``; raises OSError or asyncio.TimeoutError."""
        try:
            return await asyncio.wait_for(self._exchange(method, path, body, content_type, accept), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, method, path, body, content_type, accept):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"Cookie: {self.cookie}"] if self.cookie else []
        head += [f"Content-Type: {content_type}"] if content_type else []
        head += [f"Accept: {accept}"] if accept else []
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self.cookie = value.split(";", 1)[0]
            headers[name] = value
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def form(fields):
    return urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"


def multipart(fields, name, filename, data):
    boundary = "bench" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                 "Content-Type: application/zip\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def student(url, token, archive, start_after, poll_every, latencies, clock, finished, timeout):
    """One student at the deadline: sign in, upload from the page, open the submission, poll until graded."""
    browser = Connection(url, timeout)

    async def call(kind, method, path, expected, body=(b"", None), accept=None):
        started = clock()
        try:
            status, headers, data = await browser.request(method, path, *body, accept=accept)
        except (OSError, asyncio.TimeoutError, ValueError, IndexError) as exc:
            latencies.add(kind, started, clock() - started, f"{type(exc).__name__}: {exc}")
            return None
        latencies.add(kind, started, clock() - started,
                      None if status == expected else f"{status} {data[:200]!r}")
        return (headers, data) if status == expected else None

    def csrf(page):
        return html.unescape(page[1].decode().split('name="csrf" value="', 1)[1].split('"', 1)[0])

    await asyncio.sleep(start_after)
    try:
        page = await call("GET /signin", "GET", "/signin", 200)
        if page is None or await call("POST /signin", "POST", "/signin", 303,
                                      form({"token": token, "csrf": csrf(page)})) is None:
            return
        page = await call("GET /me", "GET", "/me", 200)
        if page is None:
            return
        sent = await call("POST /submit", "POST", "/submit", 303,
                          multipart({"csrf": csrf(page)}, "archive", *archive))
        if sent is None:
            return
        where = sent[0]["location"]
        await call("GET /submissions/N", "GET", where, 200)
        submission_id = where.rsplit("/", 1)[1]
        while True:
            await asyncio.sleep(poll_every)
            state = await call("poll GET /api/submissions/N", "GET", f"/api/submissions/{submission_id}", 200,
                               accept="application/json")
            if state is not None and json.loads(state[1])["status"] not in ("queued", "running"):
                finished.append(clock())
                await call("GET /submissions/N/feedback", "GET", where + "/feedback", 200)
                return
    finally:
        browser.close()


async def deadline_students(url, tokens, archives, window, poll_every, timeout):
    latencies, finished = Latencies(), []
    started = time.monotonic()

    def clock():
        return time.monotonic() - started

    rng = random.Random(714)
    students = [asyncio.ensure_future(student(url, token, archive, rng.uniform(0, window), poll_every, latencies,
                                              clock, finished, timeout)) for token, archive in zip(tokens, archives)]
    done, waiting = await asyncio.wait(students, timeout=window + GIVE_UP_SECONDS)
    for task in waiting:         # still polling: their results never came
        task.cancel()
        latencies.errors.append(f"no result within {window + GIVE_UP_SECONDS:.0f} s")
    return latencies, finished


def deadline_records(folder):
    """``(first upload, first grading start, last result, {submission: [job states]}, scores)`` from the course's
    records, times as datetimes."""
    from sqlalchemy import select

    from grader.serve.models import Job, Submission

    db = database(folder)
    with db.session() as session:
        submissions = session.scalars(select(Submission)).all()
        jobs = session.scalars(select(Job)).all()
        by_submission = {record.id: [job.state for job in record.jobs] for record in submissions}
        first_upload = min(record.submitted_at for record in submissions)
        first_start = min(job.started_at for job in jobs if job.started_at)
        last_result = max(job.finished_at for job in jobs if job.finished_at)
        graded = [job.finished_at - job.started_at for job in jobs if job.finished_at and job.started_at]
    db.close()
    return first_upload, first_start, last_result, by_submission, graded


def deadline(root, paths, students, workers, window, poll_every, timeout):
    """The deadline scenario (module docstring); prints its figures."""
    folder = os.path.join(root, "deadline-course")
    names = [f"student{index:03d}" for index in range(students)]
    tokens = make_course(folder, students=names)
    archives = [(f"{os.path.basename(path)}.zip", zipped(path)) for path in paths[:students]]
    server = Server(folder, workers=workers, log=os.path.join(root, "deadline-serve.log")).start()
    try:
        time.sleep(5)     # the grading processes load the course's reference before the first upload
        run_started = time.time()
        latencies, finished = asyncio.run(deadline_students(server.url, [tokens[name] for name in names], archives,
                                                            window, poll_every, timeout))
    finally:
        try:
            server.close()
        except AssertionError as exc:
            print(f"{exc}; its log ends: {open(server.log.name).read()[-2000:]}")
    first_upload, first_start, last_result, by_submission, graded = deadline_records(folder)
    lost = students - len(by_submission)
    twice = sum(1 for states in by_submission.values() if len(states) != 1)
    unfinished = sum(1 for states in by_submission.values() if states[-1] not in ("done", "failed"))
    grading_window = ((first_start.timestamp() - run_started), (last_result.timestamp() - run_started))
    print(f"{students} students, {workers} grading processes, uploads over {window:.0f} s, polls every "
          f"{poll_every:.0f} s, cpus {len(os.sched_getaffinity(0))}", flush=True)
    latencies.report("pages (sign-in, upload, views)", PAGE_KINDS)
    for kind in PAGE_KINDS:
        latencies.report(f"  {kind}", (kind,))
    latencies.report("API polls", ("poll GET /api/submissions/N",))
    p95 = latencies.report("API polls while grading ran", ("poll GET /api/submissions/N",), grading_window)
    waits = sorted(span.total_seconds() for span in graded)
    print(f"grading: {len(waits)} results, median {statistics.median(waits):.2f} s each; first upload to last result "
          f"{(last_result - first_upload).total_seconds():.1f} s; results seen by every student: {len(finished)}")
    print(f"errors: {len(latencies.errors)}; lost: {lost}; graded more than once: {twice}; not finished: "
          f"{unfinished}; polls' p95 while grading: {p95:.0f} ms (target < 500)")
    for error in latencies.errors[:20]:
        print(f"  {error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="grading processes of grader serve, and batch jobs")
    parser.add_argument("--database", help="a PostgreSQL URL: measure one worker process against two, each run in a "
                                           "new database beside it")
    parser.add_argument("--queue", help="with --database: a Redis or PostgreSQL queue URL")
    parser.add_argument("--deadline", action="store_true", help="the deadline scenario (module docstring)")
    parser.add_argument("--students", type=int, default=300, help="with --deadline: students, one upload each")
    parser.add_argument("--window", type=float, default=60.0, help="with --deadline: seconds the uploads spread over")
    parser.add_argument("--poll", type=float, default=2.0, help="with --deadline: seconds between a student's polls")
    parser.add_argument("--timeout", type=float, default=30.0, help="with --deadline: a request's timeout (an error)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as root:
        if args.deadline:
            deadline(root, build_class(root, args.students), args.students, args.workers, args.window, args.poll,
                     args.timeout)
            return
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
