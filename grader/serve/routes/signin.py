"""Signing in with a token, and out again.

A wrong token is answered at once with the sign-in page and its message:
the token is looked up in a read-only transaction, which never waits for
a writer. An address that sent too many wrong tokens gets the same page
with 429 and when to try again (``throttle``).
"""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from ..access import Refused, person_asking
from ..dependencies import CheckedForm, Reader, Visitor
from ..models import INSTRUCTOR
from ..pages import PageOf

router = APIRouter()


@router.get("/")
def home(person: Visitor):
    if person is None:
        return RedirectResponse("/signin", 303)
    return RedirectResponse("/instructor" if person.role == INSTRUCTOR else "/me", 303)


@router.get("/signin")
def signin_page(page: PageOf):
    return page.render("signin.html")


@router.post("/signin")
def sign_in(request: Request, form: CheckedForm, session: Reader, page: PageOf):
    try:
        person = person_asking(request, session, str(form.get("token") or "").strip())
    except Refused as exc:
        return page.render("signin.html", {"message": exc.message}, status=exc.status, headers=exc.headers)
    if person is None:
        return page.render("signin.html", {"message": "That token is not one of this course's."}, status=401)
    request.session.clear()
    request.session.update(person=person.id, token=person.token_hash[:16], csrf=secrets.token_urlsafe(32))
    return RedirectResponse("/", 303)


@router.post("/signout")
def sign_out(request: Request, form: CheckedForm):
    request.session.clear()
    return RedirectResponse("/signin", 303)
