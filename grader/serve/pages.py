"""The pages' rendering: one template environment, the site's layout around every page, the error page.

Every page is rendered in the layout of ``templates/base.html``, which
needs the course's title, who is signed in and the session's CSRF token;
``Page`` gathers the three, so a route passes only its own context. Pages
are rendered from a read-only transaction: nothing here writes.
"""

import pathlib
import secrets
from typing import Annotated

import jinja2
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from .. import scores
from .access import when
from .dependencies import CourseOf, Visitor, cookie_person
from .uploads import megabytes

HERE = pathlib.Path(__file__).resolve().parent


def templates():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters["points"] = scores.shown
    environment.filters["when"] = when
    environment.filters["megabytes"] = megabytes
    return Jinja2Templates(env=environment)


def csrf_token(request):
    """The session's CSRF token, made on its first page."""
    if "session" not in request.scope:
        return ""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


class Page:
    """Renders templates for one request, in the site's layout."""

    def __init__(self, request, title, person):
        self.request, self.title, self.person = request, title, person

    def render(self, name, context=None, status=200, headers=None):
        return self.request.app.state.templates.TemplateResponse(
            self.request, name, {"title": self.title, "person": self.person, "csrf": csrf_token(self.request),
                                 **(context or {})}, status_code=status, headers=headers)

    def fragment(self, name, context):
        """A piece of a page (no layout), as the pages' script fetches it."""
        return self.request.app.state.templates.TemplateResponse(self.request, name, context)


def page(request: Request, course: CourseOf, person: Visitor):
    return Page(request, course.title, person)


PageOf = Annotated[Page, Depends(page)]


# The error page's heading per status: what happened, in a few words.
ERROR_HEADINGS = {400: "This request cannot be used", 401: "Sign in first", 403: "Not allowed",
                  404: "Page not found", 405: "Not a request this page takes", 413: "Upload too large",
                  422: "Cannot be graded as sent", 429: "Too many requests", 500: "Something went wrong",
                  503: "Service unavailable"}
SITE = "needle-grader"


def error_page(request, status, message, headers=None):
    """The site's error page, for a refusal outside (or before) a route's own page, and for a failure of ours.

    The course's title and who is signed in are read if the database answers;
    the page is shown either way.
    """
    database = request.app.state.database
    title, person = SITE, None
    try:
        with database.reading() as session:
            title = database.course(session).title
            if "session" in request.scope:
                person = cookie_person(request, session)
    except Exception:   # noqa: BLE001 - the page is shown without them; the cause is logged by whoever failed
        pass
    heading = ERROR_HEADINGS.get(status, f"Error {status}")
    return Page(request, title, person).render("error.html", {"message": message, "heading": heading,
                                                              "status": status}, status=status, headers=headers)
