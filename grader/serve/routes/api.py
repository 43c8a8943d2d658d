"""The JSON API: submitting and reading submissions, and for instructors the gradebook, the queue, regrading.

Errors are ``{"error": "..."}`` with a 4xx status (``app.create_app``'s handlers).
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from .. import gradebook, uploads
from ..access import Refused
from ..dependencies import ApiInstructor, ApiPerson, CourseOf, Reader, RecordId, UploadForm, visible_submission
from ..models import INSTRUCTOR, Submission

router = APIRouter(prefix="/api")


@router.post("/submissions", status_code=202)
def submit(request: Request, form: UploadForm, person: ApiPerson, course: CourseOf):
    """An upload; its body is read before any database session opens, so a slow one holds no connection."""
    state = request.app.state
    submission_id, position, warnings = uploads.accept(state.database, state.queue, course, person.id,
                                                       form.get("archive"))
    return JSONResponse({"id": submission_id, "status": "queued", "position": position, "warnings": warnings}, 202)


@router.get("/submissions/{submission_id}")
def submission(submission_id: RecordId, person: ApiPerson, session: Reader, course: CourseOf):
    """What the pages poll: answered as plain JSON (what it holds is JSON already), without FastAPI's encoder."""
    record = visible_submission(session, person, submission_id)
    return JSONResponse(gradebook.submission_json(session, course, record, person.role == INSTRUCTOR))


@router.get("/submissions")
def submissions(person: ApiPerson, session: Reader, course: CourseOf):
    if person.role == INSTRUCTOR:
        chosen = session.scalars(select(Submission).order_by(Submission.id)).all()
    else:
        chosen = person.submissions
    return JSONResponse([gradebook.submission_json(session, course, record, person.role == INSTRUCTOR,
                                                   with_result=False) for record in chosen])


@router.get("/gradebook")
def gradebook_rows(person: ApiInstructor, session: Reader, course: CourseOf):
    return gradebook.rows(session, course)


@router.get("/gradebook.csv")
def gradebook_csv(person: ApiInstructor, session: Reader, course: CourseOf, layout: str = "canvas"):
    if layout not in ("canvas", "full"):
        raise Refused(400, "layout is canvas (Canvas's gradebook import) or full (every column)")
    return Response(gradebook.export(session, course, layout), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="gradebook-{layout}.csv"'})


@router.get("/queue")
def queue(person: ApiInstructor, session: Reader):
    return gradebook.queue_lists(session)


@router.post("/regrade", status_code=202)
def regrade(request: Request, person: ApiInstructor, note: str | None = None):
    """Regrade every counted submission; ``?note=`` says why, to each student whose score it changes."""
    queued = gradebook.regrade(request.app.state.database, request.app.state.queue, (note or "")[:500] or None)
    return JSONResponse({"queued": queued}, 202)

