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
import re
import secrets
from typing import Annotated

import jinja2
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from .. import scores
from . import times
from .dependencies import CourseOf, Visitor, cookie_person

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


# A word this long may not fit a phone's line: it may wrap after a slash or an underscore, or before a dot that
# leads a name (".py", ".compute"), never inside a number. Shorter words never wrap inside.
LONG_WORD = re.compile(r"\S{20,}")
WRAP_POINT = re.compile(r"(?<=[/_])(?=[^/_])|(?=\.[A-Za-z_])")


def breakable(text):
    """``text`` escaped, with ``<wbr>`` where its long paths and identifiers may wrap (no entity holds / _ or .)."""
    return Markup(LONG_WORD.sub(lambda found: WRAP_POINT.sub("<wbr>", found.group()), str(escape(text))))


def templates():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters["points"] = scores.shown
    environment.filters["when"] = when
    environment.filters["breakable"] = breakable
    environment.filters["ago"] = lambda moment: times.ago(moment) if moment else None
    environment.filters["megabytes"] = times.megabytes
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

    def __init__(self, request, course, person):
        """``course`` is None where the database could not say (an error page): the site's name, in UTC."""
        self.request, self.person = request, person
        self.title, self.zone = (course.title, course.timezone) if course is not None else (SITE, "UTC")

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
    course, person = None, None
    try:
        with database.reading() as session:
            course = database.course(session)
            if "session" in request.scope:
                person = cookie_person(request, session)
    except Exception:   # noqa: BLE001 - the page is shown without them; the cause is logged by whoever failed
        pass
    heading = ERROR_HEADINGS.get(status, f"Error {status}")
    return Page(request, course, person).render("error.html", {"message": message, "heading": heading,
                                                               "status": status}, status=status, headers=headers)
