"""The course's web app: its routes (``routes/``), assembled with the middleware and error handlers they share.

Every response carries the security headers (a strict CSP, no framing, no
sniffing), no body beyond the course's archive cap is read, and every
refusal has the shape its caller reads: ``{"error": ...}`` with a 4xx status
for the JSON API and the mugrade protocol (the framework's own 404, 405 and
validation errors too), the site's error page for a browser, and a redirect
to the sign-in page where a page needs a person. What goes wrong on the
server's side is told in general words with a short reference; the details
(a traceback, a database's URL, a path) go to the server's log under that
reference, never to the client. Handlers that touch the database run in the
server's thread pool, so a request waiting on it never holds up the others.

The app never imports or runs a student's code: workers grade.
"""

import contextlib
import logging
import secrets
import threading
import time

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from .. import years
from . import ServiceError, jobs, pages, store
from .access import Refused
from .dependencies import FORM_OVERHEAD
from .routes import api, instructor, mugrade, signin, student
from .throttle import Throttle
from .uploads import too_large as archive_too_large

log = logging.getLogger("needle-grader.web")

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY"}
REAP_EVERY = 2.0                 # seconds between looks for jobs whose worker is gone
RESEND_EVERY = 30.0
SESSION_DAYS = 14


def create_app(location, *, reaper=True, https_only=False):
    """The app of the course at ``location``; with ``reaper`` it requeues jobs whose worker is gone."""
    database = store.Database(location.database)
    database.check_schema()
    queue = jobs.Queue(location.queue)
    with database.reading() as session:
        course = database.course(session)
        secret, max_archive_bytes = course.session_secret, course.max_archive_bytes

    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # every year's starter, parsed once (what an upload is checked against), before students need it
        threading.Thread(target=years.tells, daemon=True, name="years").start()
        thread = None
        if reaper:
            jobs.resend_lost(database, queue)
            thread = threading.Thread(target=_reap_forever, args=(database, queue, stop), daemon=True,
                                      name="reaper")
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        queue.close()
        database.close()

    app = FastAPI(title="needle-grader", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.database, app.state.queue, app.state.throttle = database, queue, Throttle()
    # the course's cap as last read; every read of the course's settings refreshes it (dependencies.course_of)
    app.state.templates, app.state.max_archive_bytes = pages.templates(), max_archive_bytes
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")
    for area in (signin, student, instructor, api, mugrade):
        app.include_router(area.router)
    app.add_middleware(_Unexpected)       # innermost of ours: it renders pages, which need the session
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="needle_grader", same_site="lax",
                       https_only=https_only, max_age=SESSION_DAYS * 24 * 3600)
    app.add_middleware(_Headers)
    app.add_middleware(_BodyLimit)
    _answer_errors(app)
    return app


def is_api(request):
    return request.url.path.startswith(("/api/", "/mugrade/"))


FRAMEWORK_MESSAGES = {404: "there is nothing at this address", 405: "this address does not take {method} requests"}


def _answer_errors(app):
    """Every refusal in the shape its caller reads."""

    @app.exception_handler(Refused)
    async def refused(request, exc):
        if is_api(request):
            return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)
        if exc.status == 401:
            return RedirectResponse("/signin", 303)
        return await run_in_threadpool(pages.error_page, request, exc.status, exc.message, exc.headers)

    @app.exception_handler(ServiceError)
    async def unavailable(request, exc):
        reference = _reference()
        log.warning("reference %s: %s %s: %s", reference, request.method, request.url.path, exc)
        return await refused(request, Refused(503, "the service cannot reach its database or queue right now: try "
                                                   f"again in a minute (reference {reference})",
                                              {"Retry-After": "30"}))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        message = FRAMEWORK_MESSAGES.get(exc.status_code, str(exc.detail)).format(method=request.method)
        return await refused(request, Refused(exc.status_code, message, getattr(exc, "headers", None)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        fields = ", ".join(".".join(str(part) for part in error["loc"][1:]) or "the body" for error in exc.errors())
        return await refused(request, Refused(400, f"the request is missing or has a wrong field: {fields}"))


def _reference():
    """A short reference that ties what a client is told to the server's log."""
    return secrets.token_hex(4)


def _reap_forever(database, queue, stop):
    last_resend = 0.0
    while not stop.wait(REAP_EVERY):
        try:
            jobs.reap(database, queue)
            if time.monotonic() - last_resend > RESEND_EVERY:
                jobs.resend_lost(database, queue)
                last_resend = time.monotonic()
        except ServiceError:
            continue


class _Unexpected:
    """A request that fails in our code gets the site's error page (or ``{"error"}``) with a short reference.

    The traceback goes to the log under that reference, never to the client.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            reference = _reference()
            log.error("reference %s: %s %s failed", reference, scope.get("method"), scope.get("path"), exc_info=exc)
            if started:
                raise
            request = Request(scope, receive)
            message = f"something went wrong on the server's side (reference {reference}); it is logged: try again, " \
                      "and tell your instructor the reference if it happens again"
            if is_api(request):
                response = JSONResponse({"error": message}, 500)
            else:
                response = await run_in_threadpool(pages.error_page, request, 500, message)
            await response(scope, receive, send)


class _Headers:
    """Security headers on every response; a page with its own policy (the class report) keeps it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.extend((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items())
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, with_headers)


class _BodyLimit:
    """No request body beyond the course's archive cap (and a form's overhead) is read.

    Reading past it, or reading a body that declares a larger length, raises
    ``Refused`` (413) where the route reads it, so the refusal has the route's
    shape: the API's ``{"error"}``, the error page, or the student's page
    with its message (``routes.student``). The message quotes the course's
    cap, the figure a student can act on, in the route's words: an archive's,
    or a value's for the notebooks' protocol (``routes.mugrade.too_large``).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap = scope["app"].state.max_archive_bytes
        too_large = mugrade.too_large if scope["path"].startswith("/mugrade/") else archive_too_large
        limit = cap + FORM_OVERHEAD
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        declared = int(declared) if declared.isdigit() else None
        seen = 0

        async def counted():
            nonlocal seen
            if declared is not None and declared > limit:
                raise too_large(cap, declared)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large(cap)
            return message

        await self.app(scope, counted, send)
