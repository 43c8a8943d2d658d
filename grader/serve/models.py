"""A course's records: its settings, its people, their submissions, and the grading jobs.

One database holds one course. A submission keeps its archive (so a worker
on another machine needs nothing but the database), and each time it is
graded (when submitted, and at every regrade) is a job of its own: the job
holds the lease of the worker grading it and, once graded, the result.
Times are stored as naive UTC and read back as aware UTC.
"""

import datetime

from sqlalchemy import (BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
JOB_STATES = (QUEUED, RUNNING, DONE, FAILED)
STUDENT, INSTRUCTOR = "student", "instructor"


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given: times are aware UTC")
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=datetime.timezone.utc)


class Base(DeclarativeBase):
    pass


class Course(Base):
    """The one row of settings; the instructor changes them with ``grader course set``."""

    __tablename__ = "course"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[str] = mapped_column(String(4))
    seed: Mapped[int] = mapped_column(BigInteger)            # secret: feedback never shows it
    deadline: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime())
    late_policy: Mapped[str] = mapped_column(String(16), default="accept")
    penalty_per_day: Mapped[float] = mapped_column(Float, default=0.0)   # a share of the score, 0..1
    counts: Mapped[str] = mapped_column(String(16), default="last")
    cooloff_seconds: Mapped[int] = mapped_column(Integer, default=60)
    daily_limit: Mapped[int | None] = mapped_column(Integer)
    max_archive_bytes: Mapped[int] = mapped_column(Integer)
    lease_seconds: Mapped[int] = mapped_column(Integer, default=60)
    budget_seconds: Mapped[int] = mapped_column(Integer, default=120)    # a submission's grading, all cases
    session_secret: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")     # IANA: every time a person reads is in it
    # Why every counted submission should be graded again (the year or the seed changed), until a regrade is queued
    regrade_needed: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)


class Person(Base):
    """A student or an instructor, known by a token of which only the hash is kept."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(200))    # the roster's id (an LMS's SIS id)
    role: Mapped[str] = mapped_column(String(16), default=STUDENT)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    extension_until: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)

    submissions: Mapped[list["Submission"]] = relationship(back_populates="person", order_by="Submission.id")


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    submitted_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)
    archive_name: Mapped[str] = mapped_column(String(255))
    archive: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)    # read only where it is used: polls skip it
    archive_sha256: Mapped[str] = mapped_column(String(64))
    # False once the service itself failed to grade it: it then uses up none of the student's limits
    counts_for_limits: Mapped[bool] = mapped_column(Boolean, default=True)
    # what its files say against the course's handout year, found when it was uploaded: a JSON list of sentences
    warnings: Mapped[str | None] = mapped_column(Text)

    person: Mapped[Person] = relationship(back_populates="submissions")
    jobs: Mapped[list["Job"]] = relationship(back_populates="submission", order_by="Job.id")


class Job(Base):
    """One grading of a submission; a worker holds it under a lease until it stores the result."""

    __tablename__ = "jobs"
    __table_args__ = (Index("jobs_state_priority", "state", "priority", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default="submission")    # or "regrade"
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime())
    enqueued_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)
    started_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime.datetime | None] = mapped_column(UTCDateTime())
    cases_done: Mapped[int] = mapped_column(Integer, default=0)
    cases_total: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)   # the service failed, not the submission
    result: Mapped[str | None] = mapped_column(Text, deferred=True)   # the grader's JSON result, read where used
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    suites: Mapped[str | None] = mapped_column(Text)    # {suite: score} as JSON, so a gradebook reads no result
    note: Mapped[str | None] = mapped_column(Text)      # a regrade's reason, from the instructor, shown to the student

    submission: Mapped[Submission] = relationship(back_populates="jobs")


class MugradeProblem(Base):
    """The values an instructor published for one problem of the course's own tests (the mugrade protocol)."""

    __tablename__ = "mugrade_problems"
    __table_args__ = (UniqueConstraint("assignment", "problem"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment: Mapped[str] = mapped_column(String(64))
    problem: Mapped[str] = mapped_column(String(200))
    values: Mapped[str] = mapped_column(Text)        # the JSON list of encoded values, by test case index
    published_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class MugradeSubmission(Base):
    """One run of a problem's test on a student's machine: "values submitted", never "code graded"."""

    __tablename__ = "mugrade_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    assignment: Mapped[str] = mapped_column(String(64))
    problem: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)

    person: Mapped[Person] = relationship()
    verdicts: Mapped[list["MugradeVerdict"]] = relationship(back_populates="submission",
                                                            order_by="MugradeVerdict.test_index")


class MugradeVerdict(Base):
    __tablename__ = "mugrade_verdicts"
    __table_args__ = (UniqueConstraint("submission_id", "test_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("mugrade_submissions.id"), index=True)
    test_index: Mapped[int] = mapped_column(Integer)
    correct: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[str] = mapped_column(Text)          # what was submitted, cut at mugrade.MAX_STORED_VALUE
    answered_at: Mapped[datetime.datetime] = mapped_column(UTCDateTime(), default=now)

    submission: Mapped[MugradeSubmission] = relationship(back_populates="verdicts")
