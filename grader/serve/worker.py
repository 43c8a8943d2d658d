"""A worker: Huey's consumer, whose processes grade jobs with the grading session ``grader run`` uses.

``grader worker`` needs only the database and queue URLs: the archive comes
from the database, the result goes back to it, and the reference values of
the course's year and secret seed are computed here once and cached (the
first start on a machine takes a few seconds more). Each worker process
keeps one grading session, with its warm template (``grader/template.py``),
and grades one job at a time in its own confined children, while a thread
renews the job's lease. The session is made again when what grading depends
on changes on disk: the course's year or seed, the suites, the grader's own
files, the published reference.

Nothing of a worker outlives it. Huey's processes are killed when the
consumer dies, SIGKILL included (PR_SET_PDEATHSIG), and what each of them
runs dies with it (the grading children, the template and what it forked).
On SIGTERM the running jobs go back to the queue, if it can be reached within
``GIVE_BACK_SECONDS``; whatever still runs ``STOP_SECONDS`` after the consumer
stops is killed, and the leases of the jobs it held cover the rest.

What a grading that fails costs (``jobs.py`` keeps the count): a death the
grader can pin on the submission is part of its result; any other failure of
a grading (``supervise.GradingError``, or ours) gives the job back as a failed
attempt, retried once and then marked could-not-grade at no cost to the
student. A result is stored only while the lease is held.
"""

import logging
import os
import shutil
import tempfile
import threading
import time

from .. import grading, isolation, submission, supervise
from ..kit import confine
from . import ServiceError, jobs
from .models import Job
from .store import Database

log = logging.getLogger("needle-grader.worker")
PROGRESS_EVERY = 0.5     # seconds between progress writes
GIVE_BACK_SECONDS = 3.0  # a stopping worker's wait to give its job back to a database that may be unreachable
STOP_SECONDS = 3.0       # after the consumer stops, its processes' time to end before they are killed


class Worker:
    """What one worker process holds: the database, the queue, and a grading session for the course."""

    def __init__(self, database_url, queue_url, data_dir=None, template=True):
        self.database_url, self.queue_url, self.data_dir = database_url, queue_url, data_dir
        self.template = template
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
        with self._here().database.reading() as session:
            course = self.database.course(session)
            return {"year": course.year, "seed": course.seed, "lease": max(course.lease_seconds, 2),
                    "budget": course.budget_seconds}

    def grading_session(self, year, seed, budget):
        """The session for the course's year, seed and time budget per submission, made again when one of them
        changes, or what it read from disk."""
        key = (year, seed, budget)
        changed = self.session.changed() if self.session is not None and self.session_key == key else None
        if self.session_key != key or changed:
            if changed:
                log.warning("%s changed: grading with a new session, a new template and the reference read again%s",
                            changed, "; the grader's own modules this process imported stay as they were until the "
                            "worker is restarted" if "the grader's own files" in changed else "")
            if self.session is not None:
                self.session.close()
                self.session = None
            self.session = grading.Session(self.data_dir, seed, year=year, template=self.template,
                                           limits=isolation.Limits(submission_budget=budget))
            self.session_key = key
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
        with worker.database.reading() as session:
            record = session.get(Job, job_id).submission
            name, archive = record.archive_name, record.archive
            label = f"submission {record.id} of {record.person.name}"
        path = os.path.join(folder, os.path.basename(name) or "submission.zip")
        with open(path, "wb") as handle:
            handle.write(archive)
        grading_session = worker.grading_session(course["year"], course["seed"], course["budget"])
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
        _within(GIVE_BACK_SECONDS, f"job {job_id}: giving it back",
                 lambda: jobs.give_back(worker.database, worker.queue, job_id, worker.owner))
        raise
    except supervise.GradingError as exc:   # not the submission's doing: retried, then marked
        renewal.stop()
        log.warning("job %s: could not grade: %s", job_id, exc)
        jobs.give_back(worker.database, worker.queue, job_id, worker.owner, failed=True, error=str(exc))
    except Exception as exc:   # ours, not the submission's: retried, then marked
        renewal.stop()
        log.exception("job %s: internal error", job_id)
        jobs.give_back(worker.database, worker.queue, job_id, worker.owner, failed=True,
                       error=f"{type(exc).__name__}: {exc}")
    finally:
        renewal.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _within(seconds, what, action):
    """Run ``action`` for at most ``seconds`` (a database that cannot be reached may hold it far longer)."""
    done = threading.Event()

    def attempt():
        try:
            action()
        except Exception as exc:
            log.warning("%s failed: %s", what, exc)
        finally:
            done.set()

    threading.Thread(target=attempt, daemon=True, name="within").start()
    if not done.wait(seconds):
        log.warning("%s took more than %g s; left to the lease", what, seconds)


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
        """Stop renewing; a renewal stuck on an unreachable database is left behind (it is a daemon)."""
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(GIVE_BACK_SECONDS)


def _die_with_the_consumer():
    """Every process the consumer forks (Huey's workers and scheduler) is killed when the consumer dies."""
    forking = []
    os.register_at_fork(before=lambda: forking.append(os.getpid()),
                        after_in_parent=lambda: forking.pop(),
                        after_in_child=lambda: confine.die_with_parent(forking.pop()))


def _stop_processes(consumer):
    """Give Huey's processes ``STOP_SECONDS`` to end after the consumer stopped, then kill them."""
    processes = [process for process in [*(process for _, process in consumer.worker_threads), consumer.scheduler]
                 if process.pid is not None]
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0))
    for process in processes:
        if process.is_alive():
            log.warning("%s did not stop within %g s: killed", process.name, STOP_SECONDS)
            process.kill()
            process.join()


def run(database_url, queue_url, processes, data_dir=None, echo=print, template=True):
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
         f"{'es' if processes > 1 else ''}{'' if template else ', each child started afresh (--no-template)'}")
    WORKER = Worker(database_url, queue_url, data_dir, template)
    queue = jobs.Queue(queue_url)

    @queue.huey.on_shutdown()
    def close_session():
        WORKER.close()

    queue.close()
    consumer = queue.huey.create_consumer(workers=processes, worker_type="process", periodic=False,
                                          check_worker_health=True, health_check_interval=1, initial_delay=0.1,
                                          max_delay=1.0)
    _die_with_the_consumer()
    try:
        consumer.run()
    finally:
        _stop_processes(consumer)
