"""The instructor's pages: the gradebook, the queue, each student's history, the class report, regrading."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from ... import report, scores
from .. import gradebook, settings
from ..access import Refused
from ..dependencies import CheckedForm, CourseOf, Instructor, Reader
from ..models import Person
from ..pages import PageOf

router = APIRouter(prefix="/instructor")


@router.get("")
def gradebook_page(person: Instructor, session: Reader, course: CourseOf, page: PageOf):
    context = {"rows": gradebook.rows(session, course), "course": settings.describe(course),
               "suites": list(scores.SUITE_POINTS),
               "problems": [problem.problem for problem in gradebook.published_problems(session)]}
    return page.render("gradebook.html", context)


@router.get("/queue")
def queue_page(person: Instructor, session: Reader, page: PageOf):
    return page.render("queue.html", gradebook.queue_lists(session))


@router.get("/students/{name}")
def history_page(name: str, person: Instructor, session: Reader, course: CourseOf, page: PageOf):
    student = session.scalars(select(Person).where(Person.name == name)).first()
    if student is None:
        raise Refused(404, f"no one named {name} on the roster")
    shown = [gradebook.submission_json(session, course, record, True, with_result=False)
             for record in reversed(student.submissions)]
    row = next((row for row in gradebook.rows(session, course) if row["student"] == name), None)
    return page.render("history.html", {"student": student, "submissions": shown, "row": row})


@router.get("/report")
def class_report(person: Instructor, session: Reader, course: CourseOf):
    return HTMLResponse(gradebook.class_report(session, course),
                        headers={"Content-Security-Policy": report.content_security_policy()})


@router.post("/regrade")
def regrade(request: Request, form: CheckedForm, person: Instructor):
    gradebook.regrade(request.app.state.database, request.app.state.queue)
    return RedirectResponse("/instructor/queue", 303)
