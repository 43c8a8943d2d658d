"""What the course's records say: each submission's state, each student's counted score, the exports.

A submission's state is that of its newest job (a regrade makes it queued
again), and its result is that of its newest graded job; every earlier
grading stays, so its history shows what each regrade changed, and why. A
student's counted submission follows the course's rule (``policy.counted``);
the gradebook says which one counts and why, with the class's figures.
Exports: the full CSV, one a learning-management system imports (Canvas's
layout), and the class report of ``grader report`` for the counted
submissions.

A student's copy of a result holds what their code did, never how the
sandbox runs: no kernel, isolation layers, uid or timings, and no seed.
"""

import csv
import io
import json
import re
import statistics
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import report, scores
from . import ServiceError, jobs, policy, times
from .models import DONE, FAILED, QUEUED, RUNNING, STUDENT, Job, MugradeProblem, MugradeSubmission, Person, Submission

STATUS = {QUEUED: "queued", RUNNING: "running", DONE: "graded", FAILED: "could not grade"}
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
cell = report.spreadsheet_cell


def newest(submission, state=None):
    chosen = [job for job in submission.jobs if state is None or job.state == state]
    return chosen[-1] if chosen else None


def lateness(course, submission):
    """``(days late, penalty factor)`` of a submission under the course's rules as they stand now."""
    deadline = policy.deadline_of(course.deadline, submission.person.extension_until)
    days = policy.days_late(submission.submitted_at, deadline)
    return days, policy.penalty_factor(course.late_policy, course.penalty_per_day, days)


def for_student(result):
    """A student's copy of a result: the sandbox's internals (kernel, layers, uid, timings) and the seed withheld."""
    shown = {key: value for key, value in result.items() if key not in INTERNAL}
    shown["environment"] = {key: value for key, value in result["environment"].items() if key not in INTERNAL}
    shown["environment"]["seed"] = None
    shown["suites"] = [dict(suite, cases=[{key: value for key, value in case.items() if key not in INTERNAL}
                                          for case in suite["cases"]]) for suite in result["suites"]]
    return shown


INTERNAL = ("platform", "sandbox", "timing", "duration_s", "restarts")


def history(submission):
    """Each grading of the submission, oldest first: when, its score, the one before it, and a regrade's note."""
    out, before = [], None
    for job in submission.jobs:
        if job.state != DONE:
            continue
        out.append({"job": job.id, "purpose": job.purpose, "graded_at": times.iso(job.finished_at),
                    "score": job.score, "max_score": job.max_score, "before": before, "note": job.note})
        before = job.score
    return out


def submission_json(session, course, submission, for_instructor, with_result=True):
    """What the API says of a submission; a student's copy of the result is ``for_student``'s.

    Lists leave the result out (``with_result``): it is the one large part, read only where it is shown.
    """
    job, graded = newest(submission), newest(submission, DONE)
    days, factor = lateness(course, submission)
    result = None
    if graded is not None and with_result:
        result = json.loads(graded.result)
        if not for_instructor:
            result = for_student(result)
    place = jobs.position(session, job)
    line = policy.score_line(graded.score, graded.max_score, days, factor, scores.shown) if graded else None
    gradings = history(submission)
    changed = [entry for entry in gradings if entry["purpose"] == "regrade" and entry["before"] is not None
               and round(entry["before"], 2) != round(entry["score"], 2)]
    shown = {
        "id": submission.id,
        "student": submission.person.name,
        "status": STATUS[job.state],
        "summary": summary(job, place, line),
        "position": place,
        "submitted_at": times.iso(submission.submitted_at),
        "late": days > 0,
        "days_late": days,
        "penalty": round(1 - factor, 4),
        "cases_done": job.cases_done,
        "cases_total": job.cases_total,
        "error": without_paths(job.error) if job.state == FAILED else None,
        "regrading": job.purpose == "regrade" and job.state in (QUEUED, RUNNING),
        "archive": submission.archive_name,
        "warnings": submission_warnings(submission),
        "score": graded.score if graded else None,
        "max_score": graded.max_score if graded else None,
        "counted_score": round(graded.score * factor, 2) if graded else None,
        "score_line": line,
        "history": gradings,
        "regraded": changed[-1] if changed else None,
    }
    if with_result:
        shown["result"] = result
    return shown


SERVER_PATH = re.compile(r"(?<![\w./~-])/(?:[^\s/'\"]+/)+[^\s/'\"]*")


def without_paths(text):
    """A job's error as the pages and the API show it: a path of the grading machine's is only named so (a
    worker's own failure may hold one; its log keeps the whole)."""
    return SERVER_PATH.sub("(a path on the grading machine)", text) if text else text


def submission_warnings(submission):
    """What its files say against the course's handout year, and the course files it lacks (``uploads.year_check``)."""
    return json.loads(submission.warnings or "[]")


def summary(job, place, score_line=None):
    """The state in words: "queued: 2nd in line", "running: 12 of 89 cases", "graded: 97.28 / 100"."""
    again = " (regrade)" if job.purpose == "regrade" else ""
    if job.state == QUEUED:
        return f"queued: {_ordinal(place)} in line{again}"
    if job.state == RUNNING:
        return f"running: {job.cases_done} of {job.cases_total} cases{again}" if job.cases_total \
            else f"running{again}"
    if job.state == DONE:
        return f"graded: {score_line}"
    return "could not grade"


def _ordinal(number):
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def students(session):
    """The class in alphabetical order: case and accents aside (a database orders bytes, or by its own collation)."""
    found = session.scalars(select(Person).where(Person.role == STUDENT).options(
        selectinload(Person.submissions).selectinload(Submission.jobs))).all()
    return sorted(found, key=lambda person: (alphabetical(person.name), person.name))


def alphabetical(name):
    """``Célia Ó`` as ``celia o``: what a reader's alphabetical order compares."""
    return without_accents(name).casefold()


def without_accents(text):
    """``Célia Ó`` as ``Celia O``: for an alphabetical order, and a file name a Latin-1 header can carry."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def published_problems(session):
    """The problems of the course's own tests whose values are published, in the order they were."""
    return session.scalars(select(MugradeProblem).order_by(MugradeProblem.id)).all()


def values_submitted(session, person, problems):
    """Per published problem, the verdicts of the student's latest values: ``{problem: {correct, total, ...}}``."""
    latest = {}
    for record in session.scalars(select(MugradeSubmission).where(MugradeSubmission.person_id == person.id)
                                  .order_by(MugradeSubmission.id)):
        latest[record.problem] = record
    shown = {}
    for problem in problems:
        record = latest.get(problem.problem)
        if record is not None:
            shown[problem.problem] = {"correct": sum(verdict.correct for verdict in record.verdicts),
                                      "total": len(json.loads(problem.values)), "submission": record.id,
                                      "submitted_at": times.iso(record.submitted_at)}
    return shown


def rows(session, course):
    """One row per student: the counted submission, its score after any late penalty, and why.

    The values a student submitted through the course's notebooks are a
    group of their own (``values_submitted``), never merged into the score of
    the code the sandbox graded.
    """
    out = []
    problems = published_problems(session)
    for person in students(session):
        graded = []
        for submission in person.submissions:
            job = newest(submission, DONE)
            if job is not None:
                days, factor = lateness(course, submission)
                graded.append(policy.Graded(submission.id, submission.submitted_at, job.score, job.max_score,
                                            days, factor))
        chosen, why = policy.counted(graded, course.counts)
        suites, flagged = {}, []
        if chosen is not None:
            counted = session.get(Submission, chosen.id)
            suites, flagged = json.loads(newest(counted, DONE).suites or "{}"), submission_warnings(counted)
        out.append({
            "student": person.name, "email": person.email, "id": person.external_id,
            "submissions": len(person.submissions),
            "late_submissions": sum(entry.days_late > 0 for entry in graded),
            "counted": chosen.id if chosen else None, "why": why,
            "late": bool(chosen and chosen.days_late), "days_late": chosen.days_late if chosen else 0,
            "penalty": round(1 - chosen.factor, 4) if chosen else 0.0,
            "raw_score": chosen.score if chosen else None,
            "score": round(chosen.counted_score, 2) if chosen else None,
            "max_score": chosen.max_score if chosen else None,
            "suites": suites,
            "warnings": flagged,
            "extension_until": times.iso(person.extension_until),
            "values_submitted": values_submitted(session, person, problems),
        })
    return out


def figures(gradebook):
    """The class at a glance: students, how many submitted, how many have a score, its mean and median, and how
    many counted scores fall in each tenth of the maximum."""
    counted = [row for row in gradebook if row["score"] is not None]
    totals = [row["score"] for row in counted]
    return {"students": len(gradebook), "submitted": sum(row["submissions"] > 0 for row in gradebook),
            "graded": len(counted), "mean": statistics.mean(totals) if totals else None,
            "median": statistics.median(totals) if totals else None,
            "bins": report.bins([row["score"] / row["max_score"] if row["max_score"] else 0.0 for row in counted])}


def csv_full(gradebook, problems=()):
    """Every column of the gradebook, one row per student, in one format (the README's): scores and the penalty
    (the share taken off) with two decimals, counts as whole numbers, times ISO-8601 UTC, values submitted as
    correct/total; "values submitted" columns are named apart."""
    suites = list(scores.SUITE_POINTS)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "email", "id", "score", "max_score", "raw_score", "penalty", "days_late",
                     "counted_submission", "why", "submissions", "late_submissions", "extension_until", *suites,
                     *(cell(f"values submitted: {problem}") for problem in problems)])
    for row in gradebook:
        values = row["values_submitted"]
        writer.writerow([cell(row["student"]), cell(row["email"]), cell(row["id"]), decimals(row["score"]),
                         decimals(row["max_score"]), decimals(row["raw_score"]),
                         decimals(row["penalty"] if row["counted"] else None), row["days_late"],
                         _blank(row["counted"]), cell(row["why"]), row["submissions"], row["late_submissions"],
                         _blank(row["extension_until"]), *(decimals(row["suites"].get(suite)) for suite in suites),
                         *(f"{values[problem]['correct']}/{values[problem]['total']}" if problem in values else ""
                           for problem in problems)])
    return buffer.getvalue()


def csv_canvas(gradebook, title, max_score=100):
    """Canvas's gradebook import: its identity columns, a "Points Possible" row, one assignment column.

    Only the roster's id (as SIS User ID) and e-mail (as SIS Login ID) are
    known here; Canvas matches a row on any of them. Scores have two
    decimals; a student with nothing graded gets an empty cell, which Canvas
    leaves as it is.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    column = cell(title)
    writer.writerow([*CANVAS_IDENTITY, column])
    writer.writerow(["Points Possible", "", "", "", "", decimals(max_score)])
    for row in gradebook:
        writer.writerow([cell(row["student"]), "", cell(row["id"]), cell(row["email"]), "", decimals(row["score"])])
    return buffer.getvalue()


def export(session, course, layout):
    """The gradebook as CSV: ``canvas`` (Canvas's import) or ``full`` (every column)."""
    gradebook = rows(session, course)
    if layout == "canvas":
        return csv_canvas(gradebook, course.title)
    return csv_full(gradebook, [problem.problem for problem in published_problems(session)])


def decimals(value):
    """A number with two decimals for a CSV; None as an empty cell."""
    return "" if value is None else f"{value:.2f}"


def _blank(value):
    return "" if value is None else value


def class_report(session, course):
    """``grader report``'s results of every student's counted submission (``report.ClassResults``)."""
    results = []
    for row in rows(session, course):
        if row["counted"] is None:
            continue
        result = json.loads(newest(session.get(Submission, row["counted"]), DONE).result)
        result["name"] = row["student"]
        results.append(result)
    return report.ClassResults(results, [], [])


def queue_lists(session):
    """The queue as the instructor sees it: waiting (in order), running, and could not grade."""
    def entry(job):
        submission = job.submission
        return {"job": job.id, "submission": submission.id, "student": submission.person.name,
                "purpose": job.purpose, "attempts": job.attempts, "enqueued_at": times.iso(job.enqueued_at),
                "started_at": times.iso(job.started_at), "finished_at": times.iso(job.finished_at),
                "cases_done": job.cases_done, "cases_total": job.cases_total, "worker": job.lease_owner,
                "error": without_paths(job.error), "internal": job.internal, "note": job.note}

    waiting = session.scalars(select(Job).where(Job.state == QUEUED).order_by(Job.priority.desc(), Job.id)).all()
    running = session.scalars(select(Job).where(Job.state == RUNNING).order_by(Job.started_at)).all()
    failed = session.scalars(select(Job).where(Job.state == FAILED).order_by(Job.finished_at.desc()).limit(200)).all()
    return {"waiting": [dict(entry(job), position=index) for index, job in enumerate(waiting, 1)],
            "running": [entry(job) for job in running], "failed": [entry(job) for job in failed]}


def regrade_counted(session, course, note=None):
    """A regrade job for every submission ``awaiting_regrade`` names.

    Each job keeps the note (else why the course needed the regrade), and the course no longer needs one.
    """
    note = (note or "").strip() or course.regrade_needed
    added = []
    for record in awaiting_regrade(session, course):
        job = jobs.add(session, record, "regrade")
        job.note = note
        added.append(job)
    course.regrade_needed = None
    return added


def regrade(database, queue, note=None):
    """Queue a regrade of every counted submission (``regrade_counted``); how many were queued.

    The jobs are committed before they are sent: with the queue down they stay queued, and the reaper sends
    them once it is back.
    """
    with database.session() as session:
        added = regrade_counted(session, database.course(session), note)
        session.flush()
        pending = [(job.id, job.priority) for job in added]
    try:
        for job_id, priority in pending:
            queue.send(job_id, priority)
    except ServiceError:   # stored: the reaper sends them again once the queue is back
        pass
    return len(pending)


def to_regrade(session, course):
    """How many counted submissions a regrade would queue now (what the confirmation page says)."""
    return len(awaiting_regrade(session, course))


def awaiting_regrade(session, course):
    """Every student's counted submission whose newest job is neither waiting nor running: what a regrade queues."""
    counted = [session.get(Submission, row["counted"]) for row in rows(session, course) if row["counted"] is not None]
    return [record for record in counted if newest(record).state not in (QUEUED, RUNNING)]
