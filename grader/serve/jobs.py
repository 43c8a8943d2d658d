"""The grading queue: Huey carries the messages, the database keeps the truth and the leases.

A message on Huey's queue only says "grade job N"; the job's row says what
is true. Huey hands a message to one worker and forgets it, so the row
makes every job graded exactly once, whatever happens to the workers:

- **Claim.** A worker takes a job by moving its row from ``queued`` to
  ``running`` under its own name, with a lease; only one worker's update can
  succeed, so a duplicate message is harmless.
- **Lease.** While it grades, the worker renews the lease. A job whose lease
  runs out, or whose worker is seen dead on this machine, goes back to
  ``queued`` with a fresh message (``reap``); after ``MAX_ATTEMPTS`` it is
  marked could-not-grade for the service's own reason instead, and uses up
  none of the student's limits.
- **Result.** A worker stores its result only while it still holds the lease;
  a worker that lost it (it was presumed dead) stores nothing.
- **Order.** Students' submissions go before regrades (Huey's priorities),
  and a job's place in the queue is counted from the rows in that order.

Messages are JSON, never pickle: a shared Redis or PostgreSQL queue is no
way into a worker.
"""

import datetime
import json
import os
import socket

from sqlalchemy import and_, func, or_, select, update

from . import ServiceError
from .models import DONE, FAILED, QUEUED, RUNNING, Job, Submission, now

QUEUE_NAME = "needle-grader"
PRIORITY = {"submission": 10, "regrade": 0}
MAX_ATTEMPTS = 2


class JSONSerializer:
    """Huey's messages as JSON: task name, id and arguments, and times as ISO text."""

    def serialize(self, data):
        return json.dumps(_tagged(data), separators=(",", ":")).encode()

    def deserialize(self, data):
        from huey.registry import Message

        value = json.loads(data, object_hook=_untag)
        return Message(*value["message"]) if isinstance(value, dict) and "message" in value else value


def _tagged(value):
    if hasattr(value, "_fields"):     # Huey's Message, a namedtuple
        return {"message": [_tagged(item) for item in value]}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_tagged(item) for item in value]
    if isinstance(value, dict):
        return {key: _tagged(item) for key, item in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a queue message holds {type(value).__name__}, which is not sent as JSON")


def _untag(value):
    if set(value) == {"datetime"}:
        return datetime.datetime.fromisoformat(value["datetime"])
    return value


def make_huey(url):
    """A Huey on the queue at ``url``: ``sqlite:///FILE``, ``redis://...`` or ``postgresql://...``."""
    from huey import PostgresHuey, PriorityRedisHuey, SqliteHuey

    options = {"results": False, "serializer": JSONSerializer(), "utc": True}
    try:
        if url.startswith("sqlite:///"):
            return SqliteHuey(QUEUE_NAME, filename=url[len("sqlite:///"):], **options)
        if url.startswith(("redis://", "rediss://", "unix://")):
            return PriorityRedisHuey(QUEUE_NAME, url=url, **options)
        if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            return PostgresHuey(QUEUE_NAME, dsn="postgresql://" + url.split("://", 1)[1], **options)
    except Exception as exc:   # the storages raise their drivers' own errors
        raise ServiceError(f"the queue {_shown(url)} cannot be used: {exc}") from None
    raise ServiceError(f"{_shown(url)}: not a queue this service can use (sqlite:///FILE, redis://... or "
                       "postgresql://...)")


def _shown(url):
    from .store import redacted

    return redacted(url)


def grade(job_id):
    """The task every worker runs (see ``worker.grade_job``)."""
    from . import worker

    worker.grade_job(job_id)


class Queue:
    """The Huey queue of one course, with the one task it carries."""

    def __init__(self, url):
        self.url = url
        self.huey = make_huey(url)
        self.task = self.huey.task(name="grade")(grade)

    def send(self, job_id, priority):
        try:
            self.huey.enqueue(self.task.s(job_id, priority=priority))
        except Exception as exc:
            raise ServiceError(f"the queue {_shown(self.url)} cannot be reached: {exc}") from None

    def waiting(self):
        """The job ids that have a message waiting."""
        return {message.args[0] for message in self.huey.pending() if message.args}

    def close(self):
        self.huey.storage.close()


def add(session, submission, purpose):
    """A new queued job for ``submission`` (sent with ``send_new`` once the transaction commits)."""
    job = Job(submission=submission, purpose=purpose, priority=PRIORITY[purpose], state=QUEUED, attempts=0,
              cases_done=0, internal=False, enqueued_at=now())
    session.add(job)
    return job


def send_new(queue, jobs):
    for job in jobs:
        queue.send(job.id, job.priority)


def position(session, job):
    """1 for the next job a worker takes, and so on; None unless queued."""
    if job.state != QUEUED:
        return None
    ahead = session.scalar(select(func.count()).select_from(Job).where(
        Job.state == QUEUED, or_(Job.priority > job.priority, and_(Job.priority == job.priority, Job.id < job.id))))
    return ahead + 1


def owner_name():
    """This process, as a lease names it: host, pid, and the pid's start time (pids are reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{_start_time(os.getpid())}"


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _dead_here(owner):
    """Whether the lease's owner was a process of this machine that no longer runs."""
    try:
        host, pid, started = owner.split("/")
    except (AttributeError, ValueError):
        return False
    return host == socket.gethostname() and started != "?" and _start_time(int(pid)) != started


def _held(job_id, owner):
    return (Job.id == job_id) & (Job.state == RUNNING) & (Job.lease_owner == owner)


def claim(database, job_id, owner, lease_seconds):
    """Take a queued job under a lease; None when another worker has it or it is finished."""
    moment = now()
    with database.session() as session:
        taken = session.execute(update(Job).where(Job.id == job_id, Job.state == QUEUED).values(
            state=RUNNING, lease_owner=owner, lease_until=moment + datetime.timedelta(seconds=lease_seconds),
            started_at=moment, attempts=Job.attempts + 1, cases_done=0)).rowcount
        return session.get(Job, job_id) if taken else None


def renew(database, job_id, owner, lease_seconds, cases_done=None, cases_total=None):
    """Extend the lease (and record progress); False when the lease was lost."""
    values = {"lease_until": now() + datetime.timedelta(seconds=lease_seconds)}
    if cases_done is not None:
        values.update(cases_done=cases_done, cases_total=cases_total)
    with database.session() as session:
        return session.execute(update(Job).where(_held(job_id, owner)).values(**values)).rowcount == 1


def finish(database, job_id, owner, result=None, error=None):
    """Store the outcome while still holding the lease; False (nothing stored) when it was lost."""
    values = {"state": DONE if result is not None else FAILED, "finished_at": now(), "lease_owner": None,
              "lease_until": None, "error": error}
    if result is not None:
        from ..results import dumps

        values.update(result=dumps(result, indent=None), score=result["score"], max_score=result["max_score"],
                      suites=json.dumps({suite["name"]: suite["score"] for suite in result["suites"]}),
                      cases_done=sum(len(suite["cases"]) for suite in result["suites"]))
    with database.session() as session:
        return session.execute(update(Job).where(_held(job_id, owner)).values(**values)).rowcount == 1


def give_back(database, queue, job_id, owner, failed=False, error=None):
    """Return a held job to the queue: ``failed`` counts the attempt (an internal error), else it does not.

    After ``MAX_ATTEMPTS`` failed attempts the job is marked could-not-grade instead.
    """
    with database.session() as session:
        job = session.get(Job, job_id)
        if job is None or job.state != RUNNING or job.lease_owner != owner:
            return
        if failed and job.attempts >= MAX_ATTEMPTS:
            _give_up(session, job, error)
            return
        job.state, job.lease_owner, job.lease_until = QUEUED, None, None
        if not failed:
            job.attempts -= 1
        job.error = error
        priority = job.priority
    queue.send(job_id, priority)


def _give_up(session, job, error):
    job.state, job.lease_owner, job.lease_until, job.finished_at, job.internal = FAILED, None, None, now(), True
    job.error = (f"the service could not grade this ({error or 'the worker grading it stopped'}); "
                 f"it was tried {job.attempts} times. This is not your fault, and it uses up none of your "
                 "submissions: your instructor sees it and can regrade it")
    session.get(Submission, job.submission_id).counts_for_limits = False


def reap(database, queue):
    """Requeue the running jobs whose lease ran out or whose worker died here; the ids requeued."""
    moment = now()
    requeued = []
    with database.session() as session:
        running = session.scalars(select(Job).where(Job.state == RUNNING)).all()
        for job in running:
            if job.lease_until > moment and not _dead_here(job.lease_owner):
                continue
            if job.attempts >= MAX_ATTEMPTS:
                _give_up(session, job, None)
                continue
            job.state, job.lease_owner, job.lease_until = QUEUED, None, None
            requeued.append((job.id, job.priority))
    for job_id, priority in requeued:
        queue.send(job_id, priority)
    return [job_id for job_id, _ in requeued]


def resend_lost(database, queue):
    """Send again the queued jobs whose message is gone (a crash between storing and sending)."""
    waiting = queue.waiting()
    with database.session() as session:
        lost = [(job.id, job.priority) for job in session.scalars(select(Job).where(Job.state == QUEUED))
                if job.id not in waiting]
    for job_id, priority in lost:
        queue.send(job_id, priority)
    return [job_id for job_id, _ in lost]
