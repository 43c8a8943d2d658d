"""What a route needs, as FastAPI dependencies: a database session, who is asking, a checked form.

A route names what it needs in its signature, and nothing else reaches it:
``session: Reader`` (a read-only transaction, which never waits for a writer),
``course: CourseOf`` (the course's settings, read in that transaction),
``person: SignedIn`` or ``Instructor`` on a page, ``ApiPerson`` or
``ApiInstructor`` on the JSON API, ``form: CheckedForm`` for a page's form,
``UploadForm`` (the API) or ``PageUpload`` (a page) for an archive.
A write opens its own short transaction (``Database.session()``) for the
write alone, so no request holds the write lock while it reads or renders.
A route that reads a body names it before anything that opens a session:
the body arrives first, so a slow client never holds a pooled connection.

Who is asking: the API takes ``Authorization: Bearer TOKEN``; the pages sign
in with the token once and then carry a signed session cookie, and every
form carries that session's CSRF token (an API POST made with the cookie
must carry it as ``X-CSRF-Token``). A wrong token in the header is refused
outright; a cookie whose token was reissued since counts as signed out.
"""

import hmac
from typing import Annotated

import anyio
from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from .access import Refused, person_asking
from .models import INSTRUCTOR, Course, Person, Submission

FORM_OVERHEAD = 64 * 1024        # what a multipart body holds beyond the archive itself
LARGEST_ID = 2**63 - 1           # the largest integer SQLite and PostgreSQL store: a larger id is refused (400)

# A record's id in a path or a query: a whole number the database can look up.
RecordId = Annotated[int, Path(ge=0, le=LARGEST_ID)]
RecordIdQuery = Annotated[int, Query(ge=0, le=LARGEST_ID)]


READ_SLOTS = 20     # requests that may hold a read transaction at once (store.SQLITE_POOL and SERVER_POOL exceed it)


async def read_slot(request: Request):
    """One of ``READ_SLOTS`` places for a read transaction, waited for in the event loop.

    A request's dependencies and route run in turns of the thread pool, and
    its session keeps its connection from the first query to the route's end:
    without a bound, a burst of requests (300 students at a deadline) each
    took a connection and then waited for a thread, until the pool ran dry and
    they all timed out together.
    """
    async with read_slots(request.app):
        yield


def read_slots(app):
    """The app's ``READ_SLOTS``, made in its event loop on first use; a route that must let go of its slot before
    it is done (``routes.student.kit``) takes one with ``async with``."""
    slots = getattr(app.state, "read_slots", None)
    if slots is None:
        slots = app.state.read_slots = anyio.Semaphore(READ_SLOTS)
    return slots


def reading(request: Request, slot: Annotated[None, Depends(read_slot, scope="function")]):
    with request.app.state.database.reading() as session:
        yield session


# Closed when the route returns, before the response is sent.
Reader = Annotated[Session, Depends(reading, scope="function")]


def course_of(request: Request, session: Reader):
    """The course's settings; the body limit's cap follows them (``grader course set`` may change it while serving)."""
    course = request.app.state.database.course(session)
    request.app.state.max_archive_bytes = course.max_archive_bytes
    return course


CourseOf = Annotated[Course, Depends(course_of)]


def person_of(request, session, api):
    """The person making the request, or None; a malformed or unknown Bearer token is refused."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "the Authorization header must be: Bearer TOKEN")
        person = person_asking(request, session, token)
        if person is None:
            raise Refused(401, "unknown token: ask your instructor for yours")
        return person
    person = cookie_person(request, session)
    if person is not None and api and request.method == "POST" \
            and not same_secret(request.headers.get("x-csrf-token"), request.session.get("csrf")):
        raise Refused(403, "a request from the pages must carry their CSRF token")
    return person


def cookie_person(request, session):
    """Who the session cookie names, or None: signed out, or signed in with a token reissued since."""
    person_id = request.session.get("person")
    person = session.get(Person, person_id) if isinstance(person_id, int) else None
    if person is not None and request.session.get("token") != person.token_hash[:16]:
        person = None     # grader course token issued a new one
    return person


def visitor(request: Request, session: Reader):
    """Whoever is looking at a page: a person, or None before signing in."""
    return person_of(request, session, api=False)


def signed_in(person: Annotated[Person | None, Depends(visitor)]):
    if person is None:
        raise Refused(401, "sign in first")
    return person


def api_person(request: Request, session: Reader):
    person = person_of(request, session, api=True)
    if person is None:
        raise Refused(401, "sign in first: send Authorization: Bearer TOKEN")
    return person


def only_instructors(person):
    if person.role != INSTRUCTOR:
        raise Refused(403, "only an instructor may see this")
    return person


def instructor(person: Annotated[Person, Depends(signed_in)]):
    return only_instructors(person)


def api_instructor(person: Annotated[Person, Depends(api_person)]):
    return only_instructors(person)


Visitor = Annotated[Person | None, Depends(visitor)]
SignedIn = Annotated[Person, Depends(signed_in)]
Instructor = Annotated[Person, Depends(instructor)]
ApiPerson = Annotated[Person, Depends(api_person)]
ApiInstructor = Annotated[Person, Depends(api_instructor)]


def visible_submission(session, person, submission_id):
    """A submission ``person`` may see; any other id is answered as if it did not exist."""
    record = session.get(Submission, submission_id)
    if record is None or (person.role != INSTRUCTOR and record.person_id != person.id):
        raise Refused(404, f"no submission {submission_id} of yours")
    return record


def same_secret(given, expected):
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def check_csrf(request, form):
    if not same_secret(form.get("csrf"), request.session.get("csrf")):
        raise Refused(403, "this form has expired: reload the page and try again")


async def checked_form(request: Request):
    """A page's form, once its CSRF token matches the session's."""
    form = await request.form()
    check_csrf(request, form)
    return form


async def upload_form(request: Request):
    """A form that carries an archive; one beyond the course's cap is refused (413) before it is read whole."""
    return await request.form(max_files=1, max_fields=8)


async def page_upload(request: Request):
    """A page's upload: ``(form, None)``, or ``(None, refusal)`` when it cannot be read (too large, not a form),
    which the page shows in its own place."""
    try:
        return await upload_form(request), None
    except Refused as exc:
        return None, exc
    except HTTPException as exc:      # the framework's own: a malformed multipart body
        return None, Refused(400, f"the upload cannot be read ({exc.detail}): choose the file and send it again")


CheckedForm = Annotated[FormData, Depends(checked_form)]
UploadForm = Annotated[FormData, Depends(upload_form)]
PageUpload = Annotated[tuple[FormData | None, Refused | None], Depends(page_upload)]
