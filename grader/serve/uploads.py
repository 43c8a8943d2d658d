"""What a submission must be, checked before anything is stored, and storing it with its job.

An upload is accepted when it is an archive (.zip or .tar.gz) within the
course's size cap, that the grader can read (no absolute or ``..`` paths, no
links, every homework file sound), holding the homework in the layout of the
course's handout year; and when the deadline and the student's limits allow
it. A refusal is ``Refused``: a 4xx status and one line saying why (a 429
says when to retry). The checks of the archive run before the write
transaction begins, so a large or hostile upload never holds the database's
write lock.

What the files say against the course's year short of a refusal, and the
course files the archive lacks (the starter's are graded in their place),
are the submission's warnings: plain sentences, kept with it
(``year_check``), shown atop its feedback and flagged in the gradebook.
"""

import hashlib
import json
import os
import tempfile
import urllib.parse

from sqlalchemy import select

from .. import submission as submissions
from .. import years
from . import ServiceError, jobs
from .access import Refused, check_rules
from .gradebook import without_accents
from .times import megabytes
from .models import Person, Submission, now


def accept(database, queue, course, person_id, upload):
    """Check and store an upload; ``(submission id, place in the queue, warnings)``; raises Refused.

    ``course`` is the course's settings as the request read them (its cap and year); the rules are
    read again in the write transaction, which is the only session this opens.
    """
    if upload is None or not hasattr(upload, "read"):
        raise Refused(400, "the request needs the archive as a file field named archive")
    cap, year = course.max_archive_bytes, course.year
    upload.file.seek(0)
    data = upload.file.read(cap + 1)
    if len(data) > cap:
        upload.file.seek(0, os.SEEK_END)
        raise too_large(cap, upload.file.tell())
    name = archive_name(upload.filename, data)
    warnings = year_check(name, read_archive(name, data), year)
    with database.session() as session:
        course = database.course(session)
        person = session.get(Person, person_id, with_for_update=True)
        moment = now()
        earlier = session.scalars(select(Submission.submitted_at).where(Submission.person_id == person.id,
                                                                         Submission.counts_for_limits)).all()
        check_rules(course, person, moment, earlier)
        record = Submission(person=person, submitted_at=moment, archive_name=name, archive=data,
                            archive_sha256=hashlib.sha256(data).hexdigest(), counts_for_limits=True,
                            warnings=json.dumps(warnings))
        session.add(record)
        job = jobs.add(session, record, "submission")
        session.flush()
        submission_id, job_id, priority, place = record.id, job.id, job.priority, jobs.position(session, job)
    try:
        queue.send(job_id, priority)
    except ServiceError:   # stored: the reaper sends it again once the queue is back
        pass
    return submission_id, place, warnings


def too_large(cap, size=None):
    """The refusal of an upload beyond the course's cap of ``cap`` bytes (``size``: the upload's, when known)."""
    what = f"the upload is {megabytes(size)}" if size else "the upload is too large"
    return Refused(413, f"{what}: this course accepts archives of up to {megabytes(cap)} ({cap} bytes); "
                        "put only python/ and apps/ in it (needle-check submit sends only those)")


def read_archive(name, data):
    """The homework's sources in an uploaded archive (``{course path: bytes}``), or Refused saying what the grader
    could not read."""
    with tempfile.TemporaryDirectory(prefix="needle-grader-upload-") as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            sources, unreadable = submissions.read_sources(path)
        except submissions.SubmissionError as exc:
            raise Refused(400, str(exc).replace(path, name).replace(folder, "")) from None
    if unreadable:   # a batch grades such a file as the starter's; a student uploading now can send a sound copy
        source, why = min(unreadable.items())
        raise Refused(400, f"{name}: refused, {source} {why}; make the archive again")
    return sources


def year_check(name, sources, year):
    """Refuse (422) an archive plainly in another year's layout; else the sentences of its warnings.

    Plainly: every file it has that only some years' handouts have is another
    year's (the 2022 flat ``python/needle/ops.py`` in a 2024 course, the
    package layout in a 2022 course), so the grader would grade the starter in
    place of the student's code. Weaker disagreement is accepted with a
    warning: another layout's files beside the course's (they are not
    graded), or the starter's code of another year (a finding of the files or
    the starter's code that points elsewhere, or the year detection picking
    another year). Solution markers alone warn of nothing: many students
    delete them. Course files the archive lacks are warned of too.
    """
    texts = {path: data.decode("utf-8", errors="replace") for path, data in sources.items()}
    found = years.findings(texts)
    layout = [finding for finding in found if finding.weight == years.LAYOUT]
    ops = years.HANDOUTS[year].layout["ops.py"]
    ops_elsewhere = ops not in sources and any(
        handout.layout["ops.py"] in sources for handout in years.HANDOUTS.values())
    if layout and (ops_elsewhere or all(year not in finding.years for finding in layout)):
        raise Refused(422, _another_layout(name, [finding for finding in layout if year not in finding.years], year))
    warnings = [f"{finding.where} {'belong' if ', ' in finding.where else 'belongs'} to {_handout(finding.years)} "
                f"layout, not this course's {year} one: the grader does not read "
                f"{'them' if ', ' in finding.where else 'it'}" for finding in layout if year not in finding.years]
    graded = years.course_sources(year)
    code = [finding for finding in found
            if year not in finding.years and finding.weight != years.LAYOUT and finding.where in graded]
    try:
        detected = years.weigh(found).year
    except years.YearError:      # nothing tells the years apart, or two weigh the same: no more to say
        detected = year
    weighty = [finding for finding in code if finding.weight >= years.STARTER_CODE]
    against = weighty or (code if detected != year else [])
    if against:
        pointing = {detected} if detected != year else set().union(*(finding.years for finding in against))
        warnings.append(f"Your files look like {_handout(pointing)} starter in places: "
                        f"{'; '.join(f'{finding.what} ({finding.where})' for finding in against)}. This course "
                        f"grades every submission as the {year} handout: if you started from another year's, move "
                        "your code into this year's files")
    missing = [path for path in sorted(graded) if path not in sources]
    if missing:
        warnings.append(f"Not in the archive, so the {year} starter's version is graded in its place: "
                        + ", ".join(missing))
    return warnings


def _handout(which):
    """ "the 2022 handout's", "the 2023, 2024 or 2025 handouts'" """
    which = sorted(which)
    if len(which) == 1:
        return f"the {which[0]} handout's"
    return f"the {', '.join(which[:-1])} or {which[-1]} handouts'"


def _another_layout(name, layout, year):
    theirs = set().union(*(finding.years for finding in layout))
    everywhere = set.intersection(*(set(years.course_sources(other)) for other in years.YEARS))
    expected = [path for path in years.HANDOUTS[year].layout.values() if path not in everywhere]
    return (f"{name} has {_handout(theirs)} layout ({'; '.join(finding.where for finding in layout)}), but this "
            f"course grades the {year} handout, whose files are {', '.join(expected)}: the grader would not find "
            f"your code. Start from this course's {year} handout, copy your code between its ### BEGIN YOUR "
            "SOLUTION and ### END YOUR SOLUTION markers into it, and submit again")


def warnings_of(name, data, year):
    """The warnings of a stored archive as the course's ``year`` reads it (a layout refusal among them)."""
    try:
        return year_check(name, read_archive(name, data), year)
    except Refused as exc:
        return [exc.message]


def refresh_warnings(session, year):
    """Every stored submission's warnings, read again for the course's (new) handout year."""
    for record in session.scalars(select(Submission)):
        record.warnings = json.dumps(warnings_of(record.archive_name, record.archive, year))


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
    """``name`` with only letters (any script's), digits and ``._-``, fit for a file name; ``attachment`` puts it
    in a header."""
    kept = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:120]
    return kept.lstrip(".") or "submission"


def attachment(name):
    """The Content-Disposition of a download named ``name`` (a ``safe_name``).

    A header is Latin-1 on the wire, so a name beyond ASCII (Łukasz, 王小明,
    数据.zip) goes as RFC 6266's ``filename*`` in UTF-8, after a plain ASCII
    ``filename`` for the clients that read only that one.
    """
    plain = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in without_accents(name))
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
