"""The instructor's pages: the gradebook, the queue, each student's history, the class report, regrading."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
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
    rows = gradebook.rows(session, course)
    figures = gradebook.figures(rows)
    context = {"rows": rows, "course": settings.describe(course, terminal=False), "figures": figures,
               "histogram": Markup(report.histogram(figures["bins"], height=90, what="students' counted scores")),
               "suites": list(scores.SUITE_POINTS), "regrade_needed": course.regrade_needed,
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
def class_report(person: Instructor, session: Reader, course: CourseOf, page: PageOf):
    """``grader report``'s page for the counted submissions, in the site's layout; its script is served apart."""
    body = report.render_body(gradebook.class_report(session, course))
    return page.render("report.html", {"body": Markup(body)})


@router.get("/report.js")
def class_report_script(person: Instructor):
    return Response(report.SCRIPT, media_type="text/javascript; charset=utf-8")


@router.get("/regrade")
def regrade_page(person: Instructor, session: Reader, course: CourseOf, page: PageOf):
    """What a regrade would queue, to confirm, with a note for the students whose score it changes."""
    return page.render("regrade.html", {"count": gradebook.to_regrade(session, course),
                                        "regrade_needed": course.regrade_needed})


@router.post("/regrade")
def regrade(request: Request, form: CheckedForm, person: Instructor):
    note = str(form.get("note") or "").strip()[:500] or None
    gradebook.regrade(request.app.state.database, request.app.state.queue, note)
    return RedirectResponse("/instructor/queue", 303)
