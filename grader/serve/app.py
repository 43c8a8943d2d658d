"""The course's web app: pages for students and instructors, and the JSON API scripts use.

Who is asking: the API takes ``Authorization: Bearer TOKEN``; the pages sign
in with the token once and then carry a signed session cookie, and every
form carries that session's CSRF token (an API POST made with the cookie
must carry it as ``X-CSRF-Token``). A student reaches only their own
submissions: any other id answers 404, as if it did not exist. Instructors
reach everything. Handlers that touch the database run in the server's
thread pool, so a request waiting on it never holds up the others.

What a submission must be is checked before anything is stored: an archive
(.zip or .tar.gz) within the course's size cap, that the grader can read
(no absolute or ``..`` paths, no links), holding the homework's layout; and
the deadline and the student's limits must allow it. A refusal is one JSON
error (``{"error": ...}``) with a 4xx status, and a 429 says when to retry.

The app never imports or runs a student's code: workers grade.
"""

import contextlib
import hmac
import math
import os
import pathlib
import secrets
import tempfile
import threading

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from .. import results, scores, submission as submissions
from . import ServiceError, gradebook, jobs, mugrade, policy, settings, store
from .access import Refused, check_rules, person_with_token, when
from .models import INSTRUCTOR, STUDENT, Person, Submission, now

HERE = pathlib.Path(__file__).resolve().parent
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY"}
FORM_OVERHEAD = 64 * 1024        # what a multipart body holds beyond the archive itself
REAP_EVERY = 2.0                 # seconds between looks for jobs whose worker is gone
RESEND_EVERY = 30.0
SESSION_DAYS = 14


def create_app(location, *, reaper=True, https_only=False):
    """The app of the course at ``location``; with ``reaper`` it requeues jobs whose worker is gone."""
    database = store.Database(location.database)
    database.check_schema()
    queue = jobs.Queue(location.queue)
    with database.session() as session:
        course = database.course(session)
        secret, max_body = course.session_secret, course.max_archive_bytes + FORM_OVERHEAD

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
    templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                                       autoescape=True))
    templates.env.filters["points"] = scores.shown
    templates.env.filters["when"] = when
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(mugrade.router(database))
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="needle_grader", same_site="lax",
                       https_only=https_only, max_age=SESSION_DAYS * 24 * 3600)
    app.add_middleware(_Headers)
    app.add_middleware(_BodyLimit, limit=max_body)

    # -- who is asking --------------------------------------------------------------------------------------

    def person_of(request, session, api):
        """The person making the request, or None; a wrong token is refused outright."""
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
                and not _same(request.headers.get("x-csrf-token"), request.session.get("csrf")):
            raise Refused(403, "a request from the pages must carry their CSRF token")
        return person

    def signed_in(request, session, api=True):
        person = person_of(request, session, api)
        if person is None:
            raise Refused(401, "sign in first: send Authorization: Bearer TOKEN" if api else "sign in first")
        return person

    def instructor(request, session, api=True):
        person = signed_in(request, session, api)
        if person.role != INSTRUCTOR:
            raise Refused(403, "only an instructor may see this")
        return person

    def visible_submission(session, person, submission_id):
        record = session.get(Submission, submission_id)
        if record is None or (person.role != INSTRUCTOR and record.person_id != person.id):
            raise Refused(404, f"no submission {submission_id} of yours")
        return record

    # -- errors -------------------------------------------------------------------------------------------

    def is_api(request):
        return request.url.path.startswith(("/api/", "/mugrade/"))

    @app.exception_handler(Refused)
    async def refused(request, exc):
        if is_api(request):
            return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)
        if exc.status == 401:
            return RedirectResponse("/signin", 303)
        return await run_in_threadpool(page, request, "error.html", {"message": exc.message}, status=exc.status,
                                       headers=exc.headers)

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

    # -- pages ----------------------------------------------------------------------------------------------

    def page(request, name, context, status=200, headers=None):
        with database.session() as session:
            course = database.course(session)
            person = person_of(request, session, api=False)
            title = course.title
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        return templates.TemplateResponse(request, name, {"title": title, "person": person,
                                                          "csrf": request.session["csrf"], **context},
                                          status_code=status, headers=headers)

    def check_form(request, form):
        if not _same(form.get("csrf"), request.session.get("csrf")):
            raise Refused(403, "this form has expired: reload the page and try again")

    @app.get("/", include_in_schema=False)
    def home(request: Request):
        with database.session() as session:
            person = person_of(request, session, api=False)
        if person is None:
            return RedirectResponse("/signin", 303)
        return RedirectResponse("/instructor" if person.role == INSTRUCTOR else "/me", 303)

    @app.get("/signin")
    def signin_page(request: Request):
        return page(request, "signin.html", {})

    @app.post("/signin")
    async def signin(request: Request):
        return await run_in_threadpool(sign_in, request, await request.form())

    def sign_in(request, form):
        check_form(request, form)
        token = str(form.get("token") or "").strip()
        with database.session() as session:
            person = person_with_token(session, token)
            if person is None:
                return page(request, "signin.html", {"message": "That token is not one of this course's."},
                            status=401)
            request.session.clear()
            request.session.update(person=person.id, token=person.token_hash[:16], csrf=secrets.token_urlsafe(32))
        return RedirectResponse("/", 303)

    @app.post("/signout")
    async def signout(request: Request):
        check_form(request, await request.form())
        request.session.clear()
        return RedirectResponse("/signin", 303)

    @app.get("/me")
    def my_page(request: Request):
        with database.session() as session:
            person = signed_in(request, session, api=False)
            course = database.course(session)
            mine = [gradebook.submission_json(session, course, record, False) for record in reversed(person.submissions)]
            values = gradebook.values_submitted(session, person, gradebook.published_problems(session))
            context = {"submissions": mine, "rules": rules(session, course, person), "values": values}
        return page(request, "student.html", context)

    @app.post("/submit")
    async def submit_page(request: Request):
        return await run_in_threadpool(submit_from_page, request, await read_form(request))

    def submit_from_page(request, form):
        with database.session() as session:
            person = signed_in(request, session, api=False)
        check_form(request, form)
        try:
            submission_id, _ = accept(person.id, form.get("archive"))
        except Refused as exc:
            with database.session() as session:
                course = database.course(session)
                mine = [gradebook.submission_json(session, course, record, False)
                        for record in reversed(session.get(Person, person.id).submissions)]
                context = {"submissions": mine, "rules": rules(session, course, person), "message": exc.message}
            return page(request, "student.html", context, status=exc.status, headers=exc.headers)
        return RedirectResponse(f"/submissions/{submission_id}", 303)

    @app.get("/submissions/{submission_id}")
    def submission_page(request: Request, submission_id: int):
        with database.session() as session:
            person = signed_in(request, session, api=False)
            course = database.course(session)
            record = visible_submission(session, person, submission_id)
            shown = gradebook.submission_json(session, course, record, person.role == INSTRUCTOR)
        return page(request, "submission.html", {"submission": shown, "feedback": _feedback(shown)})

    @app.get("/submissions/{submission_id}/feedback")
    def feedback_fragment(request: Request, submission_id: int):
        with database.session() as session:
            person = signed_in(request, session, api=False)
            course = database.course(session)
            shown = gradebook.submission_json(session, course, visible_submission(session, person, submission_id),
                                              person.role == INSTRUCTOR)
        return templates.TemplateResponse(request, "_feedback.html", {"submission": shown,
                                                                       "feedback": _feedback(shown)})

    @app.get("/submissions/{submission_id}/archive")
    def archive(request: Request, submission_id: int):
        with database.session() as session:
            person = signed_in(request, session, api=False)
            record = visible_submission(session, person, submission_id)
            name = f"{record.person.name}-{record.id}-{_safe_name(record.archive_name)}"
            return Response(record.archive, media_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{_safe_name(name)}"'})

    @app.get("/instructor")
    def instructor_page(request: Request):
        with database.session() as session:
            instructor(request, session, api=False)
            course = database.course(session)
            context = {"rows": gradebook.rows(session, course), "course": settings.describe(course),
                       "suites": list(scores.SUITE_POINTS),
                       "problems": [problem.problem for problem in gradebook.published_problems(session)]}
        return page(request, "gradebook.html", context)

    @app.get("/instructor/queue")
    def queue_page(request: Request):
        with database.session() as session:
            instructor(request, session, api=False)
            lists = gradebook.queue_lists(session)
        return page(request, "queue.html", lists)

    @app.get("/instructor/students/{name}")
    def history_page(request: Request, name: str):
        with database.session() as session:
            instructor(request, session, api=False)
            course = database.course(session)
            student = session.scalars(select(Person).where(Person.name == name)).first()
            if student is None:
                raise Refused(404, f"no one named {name} on the roster")
            shown = [gradebook.submission_json(session, course, record, True) for record in reversed(student.submissions)]
            row = next((row for row in gradebook.rows(session, course) if row["student"] == name), None)
        return page(request, "history.html", {"student": student, "submissions": shown, "row": row})

    @app.get("/instructor/report")
    def class_report(request: Request):
        with database.session() as session:
            instructor(request, session, api=False)
            html = gradebook.class_report(session, database.course(session))
        from .. import report

        return HTMLResponse(html, headers={"Content-Security-Policy": report.content_security_policy()})

    @app.post("/instructor/regrade")
    async def regrade_button(request: Request):
        form = await request.form()

        def from_the_button():
            with database.session() as session:
                instructor(request, session, api=False)
            check_form(request, form)
            regrade()
            return RedirectResponse("/instructor/queue", 303)

        return await run_in_threadpool(from_the_button)

    # -- the JSON API ---------------------------------------------------------------------------------------

    @app.post("/api/submissions", status_code=202)
    async def api_submit(request: Request):
        form = await read_form(request)

        def from_the_api():
            with database.session() as session:
                person = signed_in(request, session)
            submission_id, position = accept(person.id, form.get("archive"))
            return JSONResponse({"id": submission_id, "status": "queued", "position": position}, 202)

        return await run_in_threadpool(from_the_api)

    @app.get("/api/submissions/{submission_id}")
    def api_submission(request: Request, submission_id: int):
        with database.session() as session:
            person = signed_in(request, session)
            course = database.course(session)
            record = visible_submission(session, person, submission_id)
            return gradebook.submission_json(session, course, record, person.role == INSTRUCTOR)

    @app.get("/api/submissions")
    def api_submissions(request: Request):
        with database.session() as session:
            person = signed_in(request, session)
            course = database.course(session)
            if person.role == INSTRUCTOR:
                chosen = session.scalars(select(Submission).order_by(Submission.id)).all()
            else:
                chosen = person.submissions
            return [_without_result(gradebook.submission_json(session, course, record, person.role == INSTRUCTOR))
                    for record in chosen]

    @app.get("/api/gradebook")
    def api_gradebook(request: Request):
        with database.session() as session:
            instructor(request, session)
            return gradebook.rows(session, database.course(session))

    @app.get("/api/gradebook.csv")
    def api_gradebook_csv(request: Request, layout: str = "canvas"):
        if layout not in ("canvas", "full"):
            raise Refused(400, "layout is canvas (Canvas's gradebook import) or full (every column)")
        with database.session() as session:
            instructor(request, session)
            text = gradebook.export(session, database.course(session), layout)
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="gradebook-{layout}.csv"'})

    @app.get("/api/queue")
    def api_queue(request: Request):
        with database.session() as session:
            instructor(request, session)
            return gradebook.queue_lists(session)

    @app.post("/api/regrade", status_code=202)
    def api_regrade(request: Request):
        with database.session() as session:
            instructor(request, session)
        return JSONResponse({"queued": regrade()}, 202)

    # -- submitting -----------------------------------------------------------------------------------------

    async def read_form(request):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise Refused(413, f"the upload is {int(length)} bytes: the course accepts archives of up to "
                               f"{max_body - FORM_OVERHEAD} bytes")
        return await request.form(max_files=1, max_fields=8)

    def accept(person_id, upload):
        """Check and store an upload; ``(submission id, place in the queue)``; raises Refused."""
        if upload is None or not hasattr(upload, "read"):
            raise Refused(400, "the request needs the archive as a file field named archive")
        with database.session() as session:
            cap = database.course(session).max_archive_bytes
        upload.file.seek(0)
        data = upload.file.read(cap + 1)
        if len(data) > cap:
            raise Refused(413, f"the archive is larger than the {cap} bytes the course accepts")
        name = _archive_name(upload.filename, data)
        _check_archive(name, data)
        with database.session() as session:
            course = database.course(session)
            person = session.get(Person, person_id, with_for_update=True)
            moment = now()
            earlier = session.scalars(select(Submission.submitted_at).where(Submission.person_id == person.id,
                                                                             Submission.counts_for_limits)).all()
            check_rules(course, person, moment, earlier)
            record = Submission(person=person, submitted_at=moment, archive_name=name, archive=data,
                                archive_sha256=_sha256(data), counts_for_limits=True)
            session.add(record)
            job = jobs.add(session, record, "submission")
            session.flush()
            submission_id, job_id, priority = record.id, job.id, job.priority
        try:
            queue.send(job_id, priority)
        except ServiceError:   # stored: the reaper sends it again once the queue is back
            pass
        with database.session() as session:
            return submission_id, jobs.position(session, session.get(Submission, submission_id).jobs[-1])

    def rules(session, course, person):
        """What a student is told of the course's rules, and when they may submit next."""
        earlier = [record.submitted_at for record in person.submissions if record.counts_for_limits]
        wait = policy.wait_seconds(now(), earlier, course.cooloff_seconds, course.daily_limit) \
            if person.role == STUDENT else 0
        return {"deadline": policy.deadline_of(course.deadline, person.extension_until),
                "late_policy": course.late_policy, "penalty_per_day": course.penalty_per_day,
                "cooloff_seconds": course.cooloff_seconds, "daily_limit": course.daily_limit,
                "counts": course.counts, "wait": math.ceil(wait) if wait > 0 else 0,
                "max_archive_bytes": course.max_archive_bytes}

    def regrade():
        with database.session() as session:
            added = gradebook.regrade_counted(session, database.course(session))
            session.flush()
            pending = [(job.id, job.priority) for job in added]
        for job_id, priority in pending:
            queue.send(job_id, priority)
        return len(pending)

    return app


def _check_archive(name, data):
    """Refuse what the grader could not read, before anything is stored."""
    with tempfile.TemporaryDirectory(prefix="needle-grader-upload-") as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            _, unreadable = submissions.read_sources(path)
        except submissions.SubmissionError as exc:
            raise Refused(400, str(exc).replace(path, name)) from None
    if unreadable:   # a batch grades such a file as the starter's; a student uploading now can send a sound copy
        source, why = min(unreadable.items())
        raise Refused(400, f"{name}: refused, {source} {why}; make the archive again")


def _archive_name(filename, data):
    """The upload's own name when it is an archive's, else a name from its first bytes."""
    name = _safe_name(os.path.basename((filename or "").replace("\\", "/")))
    if name.endswith(submissions.ARCHIVE_SUFFIXES):
        return name
    if data.startswith(b"PK\x03\x04"):
        return (name or "submission") + ".zip"
    if data.startswith(b"\x1f\x8b"):
        return (name or "submission") + ".tar.gz"
    raise Refused(400, f"{name or 'the upload'} is not a .zip or .tar.gz archive")


def _safe_name(name):
    kept = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:120]
    return kept.lstrip(".") or "submission"


def _sha256(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _same(given, expected):
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def _feedback(shown):
    return list(results.feedback(shown["result"])) if shown["result"] else []


def _without_result(shown):
    return {key: value for key, value in shown.items() if key != "result"}


def _reap_forever(database, queue, stop):
    last_resend = 0.0
    import time

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
