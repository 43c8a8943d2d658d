"""grader serve beyond one machine: PostgreSQL, Redis or PostgreSQL queues, and grader worker elsewhere.

Real servers on loopback (tests/servers.py), no mocks. Workers start in
empty folders of their own, with caches of their own, and share only the
two URLs with the web app. A worker killed with SIGKILL, or stopped with
SIGTERM while its database and queue are gone, leaves no process behind.
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from service import (REPO_ROOT, Server, commands, make_course, process_tree, slowed, still_running,  # noqa: E402
                     wait_for, zipped)


def start_worker(tmp_path, name, database, queue, jobs=1):
    """``grader worker`` from an empty folder with a cache and home of its own, in a process group of its own."""
    home = tmp_path / name
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEEDLE_GRADER_")}
    env.update(HOME=str(home), NEEDLE_GRADER_CACHE=str(home / "cache"), NEEDLE_GRADER_DATABASE=database,
               NEEDLE_GRADER_QUEUE=queue, PYTHONPATH=str(REPO_ROOT))
    log = open(home / "worker.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "grader", "worker", "--jobs", str(jobs)], cwd=home, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log_path = home / "worker.log"
    return process


def stop_worker(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def all_jobs(database_url):
    from sqlalchemy import select

    from grader.serve.models import Job
    from grader.serve.store import Database

    db = Database(database_url)
    with db.session() as session:
        found = [{"id": job.id, "submission": job.submission_id, "state": job.state, "attempts": job.attempts,
                  "owner": job.lease_owner, "done": job.cases_done, "total": job.cases_total,
                  "score": job.score}
                 for job in session.scalars(select(Job).order_by(Job.id))]
    db.close()
    return found


def course_seed(database_url):
    from grader.serve.store import Database

    db = Database(database_url)
    with db.session() as session:
        seed = db.course(session).seed
    db.close()
    return seed


def test_alembic_migrates_postgresql_to_the_models_schema(postgres):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from grader.serve.models import Base
    from grader.serve.store import Database

    db = Database(postgres.new_database())
    db.upgrade()
    db.check_schema()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_never_both_store_a_result_and_a_lost_lease_is_requeued(kind, postgres, tmp_path):
    """Claims, leases and results on each database: the row decides, whatever the queue did."""
    from grader.serve import jobs
    from grader.serve.models import Job, Person, Submission, now
    from grader.serve.store import Database

    url = postgres.new_database() if kind == "postgresql" else f"sqlite:///{tmp_path / 'course.db'}"
    db = Database(url)
    db.upgrade()
    queue = jobs.Queue(f"sqlite:///{tmp_path / 'queue.db'}")
    with db.session() as session:
        person = Person(name="ann", role="student", token_hash="x" * 64)
        record = Submission(person=person, archive_name="a.zip", archive=b"zip", archive_sha256="0" * 64,
                            counts_for_limits=True)
        session.add_all([person, record])
        job = jobs.add(session, record, "submission")
        session.flush()
        job_id = job.id
    first, second = "machine-a/100/1", "machine-b/200/1"       # on other machines: only leases tell
    assert jobs.claim(db, job_id, first, lease_seconds=60) is not None
    assert jobs.claim(db, job_id, second, lease_seconds=60) is None          # taken
    assert jobs.reap(db, queue) == []                                        # its lease still runs
    with db.session() as session:
        session.get(Job, job_id).lease_until = now() - datetime.timedelta(seconds=1)
    assert jobs.reap(db, queue) == [job_id]                                  # the machine was lost
    assert queue.waiting() == {job_id}
    assert jobs.claim(db, job_id, second, lease_seconds=60).attempts == 2
    assert jobs.renew(db, job_id, first, 60) is False                        # the first worker is told
    result = {"score": 100.0, "max_score": 100.0, "suites": [{"name": "forward", "score": 10.0, "cases": []}]}
    assert jobs.finish(db, job_id, first, result=result) is False            # and stores nothing
    assert jobs.finish(db, job_id, second, result=result) is True
    assert jobs.finish(db, job_id, second, result=result) is False           # once
    with db.session() as session:
        stored = session.get(Job, job_id)
        assert (stored.state, stored.score, stored.lease_owner, json.loads(stored.suites)) == (
            "done", 100.0, None, {"forward": 10.0})
    db.close()
    queue.close()


@pytest.mark.parametrize("queue_kind", ["redis", "postgresql"])
def test_a_worker_elsewhere_grades_through_a_redis_or_postgresql_queue(queue_kind, postgres, redis_server, tmp_path):
    from grader.serve.client import Client

    database = postgres.new_database()
    queue = redis_server.new_database() if queue_kind == "redis" else postgres.new_database()
    folder = tmp_path / "course"
    tokens = make_course(folder, seed=None, database=database, queue=queue)
    assert not (folder / "course.db").exists() and not (folder / "queue.db").exists()
    server = Server(folder, workers=0).start()
    worker = start_worker(tmp_path, "worker", database, queue)
    try:
        sent = [Client(server.url, tokens[name]).submit(f"{sample}.zip", zipped(sample))["id"]
                for name, sample in (("ann", "alice"), ("bea", "bob"))]
        wait_for(lambda: all(job["state"] == "done" for job in all_jobs(database)), 90, what="both graded")
        alices, bobs = all_jobs(database)
        assert (alices["submission"], alices["score"]) == (sent[0], 100.0)
        assert bobs["submission"] == sent[1] and bobs["score"] < 60     # with the course's own inputs
    finally:
        stop_worker(worker)
        server.close()
    # the worker computed the values of the course's secret seed itself, from nothing but the two URLs
    assert "reference values computed" in worker.log_path.read_text()


def test_forty_submissions_two_workers_one_killed_each_graded_once_as_grader_run_grades_it(postgres, redis_server,
                                                                                           tmp_path):
    from grader.serve.client import Client

    database, queue = postgres.new_database(), redis_server.new_database()
    folder = tmp_path / "course"
    tokens = make_course(folder, database=database, queue=queue, lease_seconds=10)
    samples = ("alice", "bob", "carol", "dave")
    # graded as the samples, only slower: alice's grading lasts about 3 s, most of it in its last ten cases
    # (from softmax_loss_backward on: numeric gradients and epochs, which read many values)
    slow = {sample: slowed(sample, tmp_path / "slow", seconds=0.002) for sample in samples}
    server = Server(folder, workers=0).start()
    workers = [start_worker(tmp_path, f"machine-{index}", database, queue) for index in (1, 2)]
    try:
        sent = {}
        names = sorted(tokens)
        for index in range(40):
            sample = samples[index % len(samples)]
            reply = Client(server.url, tokens[names[index % len(names)]]).submit(f"{sample}.zip", zipped(slow[sample]))
            sent[reply["id"]] = sample
        def halfway():   # mid-way through the class, and a job before its last, slow cases: a job seen
            jobs = all_jobs(database)   # nearly finished may be done by the time its worker is killed
            if sum(job["state"] == "done" for job in jobs) < 20:
                return None
            return next((job for job in jobs if job["state"] == "running" and job["total"]
                         and 5 <= job["done"] <= job["total"] - 8), None)

        victim = wait_for(halfway, 180, every=0.05, what="a job halfway, with half the class graded")
        owner_pid = int(victim["owner"].split("/")[1])
        killed = next(process for process in workers if os.getpgid(owner_pid) == process.pid)
        everything = process_tree(killed.pid)
        os.kill(killed.pid, signal.SIGKILL)          # the worker alone: all it started must follow it
        killed.wait()
        wait_for(lambda: not still_running(everything), 10, every=0.1,
                 what=f"the end of every process of the killed worker ({commands(everything)})")
        wait_for(lambda: all(job["state"] == "done" for job in all_jobs(database)), 240, what="every job graded")
    finally:
        for process in workers:
            stop_worker(process)
        server.close()
    found = all_jobs(database)
    assert sorted(job["submission"] for job in found) == sorted(sent)      # one job each: graded exactly once
    assert {job["id"]: job["attempts"] for job in found if job["attempts"] != 1} == {victim["id"]: 2}

    # grader run, with the course's seed, gives each sample the same score
    seed = course_seed(database)
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "grader", "run", *(str(REPO_ROOT / "submissions" / sample)
                                                              for sample in samples),
                    "--seed", str(seed), "--year", "2022", "--out-dir", str(out), "--quiet"], cwd=REPO_ROOT,
                   check=True, capture_output=True)
    expected = {sample: json.loads((out / f"{sample}.json").read_text())["score"] for sample in samples}
    assert {job["submission"]: job["score"] for job in found} == {
        submission: expected[sample] for submission, sample in sent.items()}


def test_sigterm_ends_a_worker_at_once_though_its_database_and_queue_are_gone_and_its_lease_covers_the_job(tmp_path):
    """Its servers are stopped mid-job: the job cannot go back to the queue, and the worker must not wait for
    them; the job stays the stopped worker's until its lease runs out, and is then queued again, once."""
    import servers

    from grader.serve import jobs
    from grader.serve.client import Client
    from grader.serve.store import Database

    try:
        postgres, redis_server = servers.Postgres(), servers.Redis()
    except servers.Unavailable as exc:
        pytest.skip(f"no PostgreSQL and Redis of its own for this test: {exc}")
    worker = None
    try:
        database, queue = postgres.new_database(), redis_server.new_database()
        folder = tmp_path / "course"
        tokens = make_course(folder, database=database, queue=queue, lease_seconds=4)
        server = Server(folder, workers=0).start()
        worker = start_worker(tmp_path, "worker", database, queue)
        slow = tmp_path / "slow"   # alice, who takes her time importing: still grading when the servers go
        shutil.copytree(REPO_ROOT / "submissions" / "alice", slow)
        init = slow / "python" / "needle" / "__init__.py"
        init.write_text("import time\ntime.sleep(60)\n" + init.read_text())
        try:
            Client(server.url, tokens["ann"]).submit("slow.zip", zipped(slow))
            victim = wait_for(lambda: next((job for job in all_jobs(database) if job["state"] == "running"), None),
                              90, every=0.1, what="the job graded")
        finally:
            server.close()
        everything = wait_for(lambda: (lambda tree: tree if len(tree) >= 5 else None)(process_tree(worker.pid)), 30,
                              what="the grading process")   # Huey's two, the template, a child's keeper, ...
        postgres.pause()
        redis_server.pause()
        stopped = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(15)
        assert time.monotonic() - stopped < 10, worker.log_path.read_text()
        wait_for(lambda: not still_running(everything), 5, every=0.1,
                 what=f"the end of every process of the worker ({commands(everything)})")
        postgres.resume()
        redis_server.resume()
        assert [(job["id"], job["state"], job["owner"]) for job in all_jobs(database)] == [
            (victim["id"], "running", victim["owner"])]               # nothing half-written
        db = Database(database)
        waiting = jobs.Queue(queue)
        try:
            wait_for(lambda: jobs.reap(db, waiting) == [victim["id"]], 10, what="the lease to run out")
            assert waiting.waiting() == {victim["id"]}
            assert [(job["state"], job["attempts"]) for job in all_jobs(database)] == [("queued", 1)]
        finally:
            waiting.close()
            db.close()
    finally:
        if worker is not None:
            stop_worker(worker)
        postgres.stop()
        redis_server.stop()
