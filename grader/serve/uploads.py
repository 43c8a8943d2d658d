"""What a submission must be, checked before anything is stored, and storing it with its job.

An upload is accepted when it is an archive (.zip or .tar.gz) within the
course's size cap, that the grader can read (no absolute or ``..`` paths, no
links, every homework file sound), holding the homework's layout; and when
the deadline and the student's limits allow it. A refusal is ``Refused``: a
4xx status and one line saying why (a 429 says when to retry). The checks
of the archive run before the write transaction begins, so a large or
hostile upload never holds the database's write lock.
"""

import hashlib
import os
import tempfile

from sqlalchemy import select

from .. import submission as submissions
from . import ServiceError, jobs
from .access import Refused, check_rules
from .models import Person, Submission, now


def accept(database, queue, person_id, upload):
    """Check and store an upload; ``(submission id, place in the queue)``; raises Refused."""
    if upload is None or not hasattr(upload, "read"):
        raise Refused(400, "the request needs the archive as a file field named archive")
    with database.reading() as session:
        cap = database.course(session).max_archive_bytes
    upload.file.seek(0)
    data = upload.file.read(cap + 1)
    if len(data) > cap:
        raise Refused(413, f"the archive is larger than the {cap} bytes the course accepts")
    name = archive_name(upload.filename, data)
    check_archive(name, data)
    with database.session() as session:
        course = database.course(session)
        person = session.get(Person, person_id, with_for_update=True)
        moment = now()
        earlier = session.scalars(select(Submission.submitted_at).where(Submission.person_id == person.id,
                                                                         Submission.counts_for_limits)).all()
        check_rules(course, person, moment, earlier)
        record = Submission(person=person, submitted_at=moment, archive_name=name, archive=data,
                            archive_sha256=hashlib.sha256(data).hexdigest(), counts_for_limits=True)
        session.add(record)
        job = jobs.add(session, record, "submission")
        session.flush()
        submission_id, job_id, priority = record.id, job.id, job.priority
    try:
        queue.send(job_id, priority)
    except ServiceError:   # stored: the reaper sends it again once the queue is back
        pass
    with database.reading() as session:
        return submission_id, jobs.position(session, session.get(Submission, submission_id).jobs[-1])


def check_archive(name, data):
    """Refuse what the grader could not read, before anything is stored."""
    with tempfile.TemporaryDirectory(prefix="needle-grader-upload-") as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            _, unreadable = submissions.read_sources(path)
        except submissions.SubmissionError as exc:
            raise Refused(400, str(exc).replace(path, name)) from None
    if unreadable:   # a batch grades such a file as the starter's; a student uploading now can send a sound copy
        source, why = min(unreadable.items())
        raise Refused(400, f"{name}: refused, {source} {why}; make the archive again")


def archive_name(filename, data):
    """The upload's own name when it is an archive's, else a name from its first bytes."""
    name = safe_name(os.path.basename((filename or "").replace("\\", "/")))
    if name.endswith(submissions.ARCHIVE_SUFFIXES):
        return name
    if data.startswith(b"PK\x03\x04"):
        return (name or "submission") + ".zip"
    if data.startswith(b"\x1f\x8b"):
        return (name or "submission") + ".tar.gz"
    raise Refused(400, f"{name or 'the upload'} is not a .zip or .tar.gz archive")


def safe_name(name):
    """``name`` with only letters, digits and ``._-``, fit for a file name or a header."""
    kept = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:120]
    return kept.lstrip(".") or "submission"
