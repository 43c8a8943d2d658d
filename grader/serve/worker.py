"""A worker: Huey's consumer, whose processes grade jobs with the grading session ``grader run`` uses.

``grader worker`` needs only the database and queue URLs: the archive comes
from the database, the result goes back to it, and the reference values of
the course's year and secret seed are computed here once and cached (the
first start on a machine takes a few seconds more). Each worker process
keeps one grading session, and grades one job at a time in its own
confined children, while a thread renews the job's lease.
"""

import logging
import os
import shutil
import tempfile
import threading

from .. import grading, submission
from . import ServiceError, jobs
from .models import Job
from .store import Database

log = logging.getLogger("needle-grader.worker")
PROGRESS_EVERY = 0.5   # seconds between progress writes


class Worker:
    """What one worker process holds: the database, the queue, and a grading session for the course."""

    def __init__(self, database_url, queue_url, data_dir=None):
        self.database_url, self.queue_url, self.data_dir = database_url, queue_url, data_dir
        self._pid = None

    def _here(self):
        """Connections and sessions of this process (a forked worker opens its own)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.database = Database(self.database_url)
            self.queue = jobs.Queue(self.queue_url)
            self.owner = jobs.owner_name()
            self.session, self.session_key = None, None
        return self

    def course(self):
        with self._here().database.session() as session:
            course = self.database.course(session)
            return {"year": course.year, "seed": course.seed, "lease": max(course.lease_seconds, 2)}

    def grading_session(self, year, seed):
        """The session for the course's year and seed, made again when the instructor changes either."""
        if self.session_key != (year, seed):
            if self.session is not None:
                self.session.close()
            self.session = grading.Session(self.data_dir, seed, year=year)
            self.session_key = (year, seed)
        return self.session

    def close(self):
        if self._pid == os.getpid() and self.session is not None:
            self.session.close()
            self.session = None


WORKER = None   # this process's Worker, set by ``run`` before the consumer forks


def grade_job(job_id):
    """Grade job ``job_id`` if it is still queued: claim, grade under a renewed lease, store."""
    worker = WORKER._here()
    course = worker.course()
    if jobs.claim(worker.database, job_id, worker.owner, course["lease"]) is None:
        return
    lost = threading.Event()
    renewal = _Renewal(worker, job_id, course["lease"], lost)
    renewal.start()
    folder = tempfile.mkdtemp(prefix="needle-grader-job-")
    try:
        with worker.database.session() as session:
            record = session.get(Job, job_id).submission
            name, archive = record.archive_name, record.archive
            label = f"submission {record.id} of {record.person.name}"
        path = os.path.join(folder, os.path.basename(name) or "submission.zip")
        with open(path, "wb") as handle:
            handle.write(archive)
        grading_session = worker.grading_session(course["year"], course["seed"])
        try:
            staged = grading_session.stage(path)
        except submission.SubmissionError as exc:
            renewal.stop()
            jobs.finish(worker.database, job_id, worker.owner, error=str(exc).replace(path, name))
            return
        result = grading_session.grade(staged, abort=lost, on_progress=renewal.progress)
        renewal.stop()
        if result is None:       # the lease was lost: someone else grades it now
            log.warning("job %s: lease lost while grading; the result is not stored", job_id)
            return
        result["submission"], result["name"] = name, label
        if not jobs.finish(worker.database, job_id, worker.owner, result=result):
            log.warning("job %s: lease lost before the result was stored; it is not stored", job_id)
    except KeyboardInterrupt:    # the consumer is stopping: the job goes back, the attempt does not count
        renewal.stop()
        jobs.give_back(worker.database, worker.queue, job_id, worker.owner)
        raise
    except Exception as exc:   # ours, not the submission's: retried, then marked
        renewal.stop()
        log.exception("job %s: internal error", job_id)
        jobs.give_back(worker.database, worker.queue, job_id, worker.owner, failed=True,
                       error=f"{type(exc).__name__}: {exc}")
    finally:
        renewal.stop()
        shutil.rmtree(folder, ignore_errors=True)


class _Renewal(threading.Thread):
    """Renews a job's lease while it is graded, with its progress; sets ``lost`` when the lease is gone."""

    def __init__(self, worker, job_id, lease, lost):
        super().__init__(daemon=True, name=f"lease-{job_id}")
        self.worker, self.job_id, self.lease, self.lost = worker, job_id, lease, lost
        self.stopped = threading.Event()
        self.latest = None
        self.lock = threading.Lock()

    def progress(self, done, total):
        with self.lock:
            self.latest = (done, total)

    def run(self):
        import time

        last_renewal = time.monotonic()
        while not self.stopped.wait(PROGRESS_EVERY):
            with self.lock:
                latest, self.latest = self.latest, None
            if latest is None and time.monotonic() - last_renewal < self.lease / 4:
                continue
            try:
                held = jobs.renew(self.worker.database, self.job_id, self.worker.owner, self.lease,
                                  *(latest or (None, None)))
            except ServiceError as exc:
                log.warning("job %s: cannot renew the lease: %s", self.job_id, exc)
                continue
            last_renewal = time.monotonic()
            if not held:
                self.lost.set()
                return

    def stop(self):
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()


def run(database_url, queue_url, processes, data_dir=None, echo=print):
    """Start ``processes`` worker processes on the course's queue, until stopped (SIGINT or SIGTERM)."""
    global WORKER

    database = Database(database_url)
    database.check_schema()
    with database.session() as session:
        course = database.course(session)
        year, seed, title = course.year, course.seed, course.title
    database.close()
    # The reference of the course's year and secret seed, computed (or found cached) before any job.
    with grading.Session(data_dir, seed, year=year) as session:
        origin = session.reference(year).origin
    echo(f"worker for {title!r} ({year} handout): reference values {origin}; {processes} grading process"
         f"{'es' if processes > 1 else ''}")
    WORKER = Worker(database_url, queue_url, data_dir)
    queue = jobs.Queue(queue_url)

    @queue.huey.on_shutdown()
    def close_session():
        WORKER.close()

    queue.close()
    consumer = queue.huey.create_consumer(workers=processes, worker_type="process", periodic=False,
                                          check_worker_health=True, health_check_interval=1, initial_delay=0.1,
                                          max_delay=1.0)
    consumer.run()
