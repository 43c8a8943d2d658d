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
from .access import Refused, when
from .dependencies import CourseOf, Visitor, person_of

HERE = pathlib.Path(__file__).resolve().parent


def templates():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters["points"] = scores.shown
    environment.filters["when"] = when
    return Jinja2Templates(env=environment)


def csrf_token(request):
    """The session's CSRF token, made on its first page."""
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


def error_page(request, status, message, headers=None):
    """The error page for a refusal that happened outside (or before) a route's dependencies."""
    database = request.app.state.database
    with database.reading() as session:
        try:
            person = person_of(request, session, api=False)
        except Refused:
            person = None
        shown = Page(request, database.course(session).title, person)
        return shown.render("error.html", {"message": message}, status=status, headers=headers)
