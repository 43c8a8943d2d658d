"""The pages' rendering: one template environment, the site's layout around every page, the error page.

Every page is rendered in the layout of ``templates/base.html``, which
needs the course's title and time zone, who is signed in and the session's
CSRF token; ``Page`` gathers them, so a route passes only its own context.
Times are shown in the course's zone (``times``): the ``when`` filter writes
a ``<time>`` element, "3 min ago" for what happened within a day (the
pages' script keeps it current) with the date in words as its title. Pages
are rendered from a read-only transaction: nothing here writes.
"""

import pathlib
import secrets
from typing import Annotated

import jinja2
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from .. import scores
from . import times
from .access import Refused
from .dependencies import CourseOf, Visitor, person_of

HERE = pathlib.Path(__file__).resolve().parent


@jinja2.pass_context
def when(context, moment, relative=True):
    """A time for people, in the course's zone: ``Mon 14 Dec, 23:59 EST``, or ``3 min ago`` within a day."""
    if not moment:
        return "none"
    words = times.words(moment, context.get("zone") or "UTC")
    recent = times.ago(moment) if relative else None
    if recent:
        return Markup('<time datetime="{}" title="{}" data-relative>{}</time>').format(times.iso(moment), words,
                                                                                        recent)
    return Markup('<time datetime="{}">{}</time>').format(times.iso(moment), words)


def templates():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters["points"] = scores.shown
    environment.filters["when"] = when
    environment.filters["ago"] = lambda moment: times.ago(moment) if moment else None
    environment.filters["megabytes"] = times.megabytes
    return Jinja2Templates(env=environment)


def csrf_token(request):
    """The session's CSRF token, made on its first page."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


class Page:
    """Renders templates for one request, in the site's layout."""

    def __init__(self, request, course, person):
        self.request, self.person = request, person
        self.title, self.zone = course.title, course.timezone

    def render(self, name, context=None, status=200, headers=None):
        return self.request.app.state.templates.TemplateResponse(
            self.request, name, {"title": self.title, "zone": self.zone, "person": self.person,
                                 "csrf": csrf_token(self.request), **(context or {})},
            status_code=status, headers=headers)

    def fragment(self, name, context):
        """A piece of a page (no layout), as the pages' script fetches it."""
        return self.request.app.state.templates.TemplateResponse(self.request, name, {"zone": self.zone,
                                                                                      "person": self.person,
                                                                                      **context})


def page(request: Request, course: CourseOf, person: Visitor):
    return Page(request, course, person)


PageOf = Annotated[Page, Depends(page)]


def error_page(request, status, message, headers=None):
    """The error page for a refusal that happened outside (or before) a route's dependencies."""
    database = request.app.state.database
    with database.reading() as session:
        try:
            person = person_of(request, session, api=False)
        except Refused:
            person = None
        shown = Page(request, database.course(session), person)
        return shown.render("error.html", {"message": message}, status=status, headers=headers)
