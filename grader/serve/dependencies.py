"""What a route needs, as FastAPI dependencies: a database session, who is asking, a checked form.

A route names what it needs in its signature, and nothing else reaches it:
``session: Reader`` (a read-only transaction, which never waits for a writer),
``course: CourseOf`` (the course's settings, read in that transaction),
``person: SignedIn`` or ``Instructor`` on a page, ``ApiPerson`` or
``ApiInstructor`` on the JSON API, ``form: CheckedForm`` for a page's form.
A write opens its own short transaction (``Database.session()``) for the
write alone, so no request holds the write lock while it reads or renders.

Who is asking: the API takes ``Authorization: Bearer TOKEN``; the pages sign
in with the token once and then carry a signed session cookie, and every
form carries that session's CSRF token (an API POST made with the cookie
must carry it as ``X-CSRF-Token``). A wrong token in the header is refused
outright; a cookie whose token was reissued since counts as signed out.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from .access import Refused, person_with_token
from .models import INSTRUCTOR, Course, Person, Submission

FORM_OVERHEAD = 64 * 1024        # what a multipart body holds beyond the archive itself


def reading(request: Request):
    with request.app.state.database.reading() as session:
        yield session


# Closed when the route returns, before the response is sent.
Reader = Annotated[Session, Depends(reading, scope="function")]


def course_of(request: Request, session: Reader):
    return request.app.state.database.course(session)


CourseOf = Annotated[Course, Depends(course_of)]


def person_of(request, session, api):
    """The person making the request, or None; a malformed or unknown Bearer token is refused."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "the Authorization header must be: Bearer TOKEN")
        person = person_with_token(session, token)
        if person is None:
            raise Refused(401, "unknown token: ask your instructor for yours")
        return person
    person_id = request.session.get("person")
    person = session.get(Person, person_id) if person_id is not None else None
    if person is not None and request.session.get("token") != person.token_hash[:16]:
        person = None     # signed in with a token since reissued (grader course token)
    if person is not None and api and request.method == "POST" \
            and not same_secret(request.headers.get("x-csrf-token"), request.session.get("csrf")):
        raise Refused(403, "a request from the pages must carry their CSRF token")
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
    """A form that carries an archive: its declared size is checked before its body is read."""
    limit = request.app.state.max_archive_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + FORM_OVERHEAD:
        raise Refused(413, f"the upload is {int(length)} bytes: the course accepts archives of up to {limit} bytes")
    return await request.form(max_files=1, max_fields=8)


CheckedForm = Annotated[FormData, Depends(checked_form)]
UploadForm = Annotated[FormData, Depends(upload_form)]
