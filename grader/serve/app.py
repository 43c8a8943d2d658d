"""The course's web app: its routes (``routes/``), assembled with the middleware and error handlers they share.

Every response carries the security headers (a strict CSP, no framing, no
sniffing), no body beyond the course's archive cap is read, and every
refusal has the shape its caller reads: ``{"error": ...}`` with a 4xx status
for the JSON API and the mugrade protocol, the site's error page for a
browser, and a redirect to the sign-in page where a page needs a person.
Handlers that touch the database run in the server's thread pool, so a
request waiting on it never holds up the others.

The app never imports or runs a student's code: workers grade.
"""

import contextlib
import threading
import time

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from . import ServiceError, jobs, pages, store
from .access import Refused
from .dependencies import FORM_OVERHEAD
from .routes import api, instructor, mugrade, signin, student

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
    app.state.database, app.state.queue = database, queue
    app.state.templates, app.state.max_archive_bytes = pages.templates(), max_archive_bytes
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")
    for area in (signin, student, instructor, api, mugrade):
        app.include_router(area.router)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="needle_grader", same_site="lax",
                       https_only=https_only, max_age=SESSION_DAYS * 24 * 3600)
    app.add_middleware(_Headers)
    app.add_middleware(_BodyLimit, limit=max_archive_bytes + FORM_OVERHEAD)
    _answer_errors(app)
    return app


def _is_api(request):
    return request.url.path.startswith(("/api/", "/mugrade/"))


def _answer_errors(app):
    """Every refusal in the shape its caller reads."""

    @app.exception_handler(Refused)
    async def refused(request, exc):
        if _is_api(request):
            return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)
        if exc.status == 401:
            return RedirectResponse("/signin", 303)
        return await run_in_threadpool(pages.error_page, request, exc.status, exc.message, exc.headers)

    @app.exception_handler(ServiceError)
    async def unavailable(request, exc):
        return await refused(request, Refused(503, str(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return await refused(request, Refused(exc.status_code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        fields = ", ".join(".".join(str(part) for part in error["loc"][1:]) or "the body" for error in exc.errors())
        return await refused(request, Refused(400, f"the request is missing or has a wrong field: {fields}"))


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
    """No request body beyond ``limit`` bytes is read, whether it declares its length or not."""

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _too_large(self.limit, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(self.limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit, send):
    body = JSONResponse({"error": f"the request body is larger than the {limit} bytes this course accepts"}, 413)
    await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
    await send({"type": "http.response.body", "body": body.body})
