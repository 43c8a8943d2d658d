"""A student's own pages: their submissions, uploading one, each submission's feedback, and the course's kit.

Instructors reach every submission's page too; a student reaches only their
own, and any other id answers 404, as if it did not exist.
"""

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import ServiceError, course_kit, feedback, gradebook, policy, times, uploads
from ..access import Refused, check_rules, rules
from ..dependencies import (CourseOf, PageUpload, Reader, RecordId, SignedIn, check_csrf, read_slots, signed_in,
                            visible_submission, visitor)
from ..models import INSTRUCTOR, now
from ..pages import PageOf

router = APIRouter()
log = logging.getLogger("needle-grader.web")


def my_page(page, session, course, person, refusal=None, status=200, headers=None):
    """The student's page; ``refusal`` (an upload's, in the API's words) is shown beside the upload form."""
    mine = [gradebook.submission_json(session, course, record, False, with_result=False)
            for record in reversed(person.submissions)]
    values = gradebook.values_submitted(session, person, gradebook.published_problems(session))
    kit = {"name": course_kit.file_name(), "url": f"/kit/{course_kit.file_name()}", "year": course.year,
           "server": str(page.request.base_url).rstrip("/")}
    moment = now()
    context = {"submissions": mine, "rules": rules(course, person, moment), "values": values, "refusal": refusal,
               "kit": kit, "closed": closed(course, person, moment),
               "extended": policy.deadline_of(course.deadline, person.extension_until) != course.deadline}
    return page.render("student.html", context, status=status, headers=headers)


def closed(course, person, moment):
    """Whether any upload now would be refused for the deadline: the server's own rule (``check_rules``), asked
    with no earlier submissions, so that only the deadline, never a wait, can refuse."""
    try:
        check_rules(course, person, moment, [])
    except Refused:
        return True
    return False


@router.get("/me")
def my_submissions(person: SignedIn, session: Reader, course: CourseOf, page: PageOf):
    return my_page(page, session, course, person)


@router.post("/submit")
def submit(request: Request, upload: PageUpload, person: SignedIn, session: Reader, course: CourseOf, page: PageOf):
    """An upload from the student's page; a refusal shows that page again with the API's message and status.

    Its body is read before any database session opens, so a slow one holds no connection.
    """
    form, refusal = upload
    state = request.app.state
    try:
        if refusal is not None:
            raise refusal
        check_csrf(request, form)
        submission_id, _, _ = uploads.accept(state.database, state.queue, course, person.id, form.get("archive"))
    except Refused as exc:
        return my_page(page, session, course, person, exc.message, exc.status, exc.headers)
    return RedirectResponse(f"/submissions/{submission_id}", 303)


def feedback_context(session, course, person, submission_id):
    record = visible_submission(session, person, submission_id)
    instructor = person.role == INSTRUCTOR
    shown = gradebook.submission_json(session, course, record, instructor)
    deadline = policy.deadline_of(course.deadline, record.person.extension_until)
    result = shown["result"]
    return {"submission": shown, "questions": list(feedback.questions(result)) if result else [],
            "warnings": feedback.warnings(shown, times.words(deadline, course.timezone)),
            "sandbox": feedback.sandbox(result) if result and instructor else None}


@router.get("/submissions/{submission_id}")
def submission_page(submission_id: RecordId, person: SignedIn, session: Reader, course: CourseOf, page: PageOf):
    return page.render("submission.html", feedback_context(session, course, person, submission_id))


@router.get("/submissions/{submission_id}/feedback")
def feedback_fragment(submission_id: RecordId, person: SignedIn, session: Reader, course: CourseOf, page: PageOf):
    return page.fragment("_feedback.html", feedback_context(session, course, person, submission_id))


@router.get("/submissions/{submission_id}/archive")
def archive(submission_id: RecordId, person: SignedIn, session: Reader):
    record = visible_submission(session, person, submission_id)
    name = uploads.safe_name(f"{record.person.name}-{record.id}-{uploads.safe_name(record.archive_name)}")
    return Response(record.archive, media_type="application/octet-stream",
                    headers={"Content-Disposition": uploads.attachment(name)})


@router.get("/kit/{name}")
async def kit(request: Request, name: str):
    """The course's student kit (``course_kit``): ``needle-check``, for the course's year, with a public seed.

    Who asks, and the course's year and seed, are read in a short transaction
    under a read slot; the build (once per year and seed, one at a time)
    holds neither, so a class clicking the link at once cannot hold every
    slot. A kit this server cannot build is a 503 saying why.
    """
    async with read_slots(request.app):
        year, seed = await run_in_threadpool(kit_course, request)
    if name != course_kit.file_name():
        raise Refused(404, f"the course's kit is {course_kit.file_name()}")
    try:
        file_name, data = await run_in_threadpool(course_kit.wheel, year, seed)
    except ServiceError as exc:
        log.warning("%s", exc)
        raise Refused(503, gradebook.without_paths(str(exc))) from None
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": uploads.attachment(file_name)})


def kit_course(request):
    """``(year, seed)`` of the course, for a person signed in; Refused (401) otherwise."""
    database = request.app.state.database
    with database.reading() as session:
        signed_in(visitor(request, session))
        course = database.course(session)
        return course.year, course.seed
