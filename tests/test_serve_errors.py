"""grader serve under wrong and hostile input: sign-in never waits on the write lock and is throttled, every
refusal has its caller's shape (the page again with its message, the error page, or ``{"error"}``), and no
response ever carries a 5xx, a server path, a database URL or a traceback.

The app runs in this process (starlette's TestClient) on a real SQLite course in a temporary folder.
"""

import concurrent.futures
import contextlib
import datetime
import functools
import html
import importlib
import io
import logging
import pkgutil
import re
import sqlite3
import threading
import time
import zipfile

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")


from service import REPO_ROOT, bearer, client_for, database, grader, jobs_of, make_course, zipped  # noqa: E402

STUDENT_PAGE = "<h1>My submissions</h1>"




def csrf_of(page):
    return html.unescape(page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0])


def sign_in(client, token):
    """Sign in on the pages; the CSRF token of the page the person lands on."""
    reply = client.post("/signin", data={"token": token, "csrf": csrf_of(client.get("/signin"))})
    assert reply.status_code == 303, reply.text
    return csrf_of(client.get(client.get("/").headers["location"]))




def message_of(page):
    """The page's message (the API's words, as the page shows them)."""
    found = [text for text in re.findall(r'<p class="message" role="alert"[^>]*>(.*?)</p>', page.text, re.S) if text]
    return html.unescape(found[0]) if found else None


def finished_within(seconds, call):
    """``call()``'s value from another thread, or a failure if it has not answered within ``seconds``."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("value", call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no answer within {seconds} s: the request waits for the database's write lock"
    return outcome["value"]


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder)
    with client_for(folder, follow_redirects=False) as client:
        yield folder, tokens, client


@contextlib.contextmanager
def write_lock_held(folder):
    """Another connection holds the course database's write lock (as a worker storing a result does)."""
    holder = sqlite3.connect(folder / "course.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_wrong_token_is_answered_at_once_while_another_connection_holds_the_write_lock(course):
    folder, tokens, client = course
    csrf = csrf_of(client.get("/signin"))
    with write_lock_held(folder):      # SQLite's busy timeout is 30 s: waiting for the lock would show
        page = finished_within(10, lambda: client.post("/signin", data={"token": "ng-wrong", "csrf": csrf}))
        api = finished_within(10, lambda: client.get("/api/submissions", headers=bearer("ng-wrong")))
        notebook = finished_within(10, lambda: client.post("/mugrade/submit?user_key=ng-wrong&problem=forward"))
        known = finished_within(10, lambda: client.get("/api/submissions", headers=bearer(tokens["ann"])))
    assert (page.status_code, message_of(page)) == (401, "That token is not one of this course's.")
    assert "<h1>Sign in</h1>" in page.text
    assert (api.status_code, api.json()) == (401, {"error": "unknown token: ask your instructor for yours"})
    assert (notebook.status_code, notebook.json()) == (
        401, {"error": "unknown user_key: use the token your instructor gave you"})
    assert (known.status_code, known.json()) == (200, [])


def test_a_failed_sign_in_holds_no_lock_while_its_page_renders(course, monkeypatch):
    """While a wrong token's page is being rendered, a student's upload (a write) goes through."""
    from grader.serve import pages

    folder, tokens, client = course
    rendering, finish = threading.Event(), threading.Event()
    render = pages.Page.render

    def slow_render(self, name, *args, **kwargs):
        if name == "signin.html" and self.request.method == "POST":
            rendering.set()
            finish.wait(30)
        return render(self, name, *args, **kwargs)

    monkeypatch.setattr(pages.Page, "render", slow_render)
    csrf = csrf_of(client.get("/signin"))
    failed = {}
    signing_in = threading.Thread(target=lambda: failed.setdefault(
        "reply", client.post("/signin", data={"token": "ng-wrong", "csrf": csrf})))
    signing_in.start()
    try:
        assert rendering.wait(10)
        sent = finished_within(10, lambda: client.post("/api/submissions", headers=bearer(tokens["ann"]),
                                                       files={"archive": ("hw1.zip", zipped("alice"))}))
        assert sent.status_code == 202, sent.text
        assert signing_in.is_alive()      # the failed sign-in was still rendering all along
    finally:
        finish.set()
        signing_in.join(30)
    assert failed["reply"].status_code == 401
    assert jobs_of(folder) == [(1, "queued", 0, None)]


def test_wrong_tokens_are_throttled_per_address_on_the_page_the_api_and_the_notebooks(course):
    from grader.serve.throttle import LIMIT, WINDOW, Throttle

    folder, tokens, client = course
    clock = [1000.0]
    client.app.state.throttle = Throttle(clock=lambda: clock[0])
    csrf = csrf_of(client.get("/signin"))
    for attempt in range(LIMIT - 1):
        assert client.post("/signin", data={"token": f"ng-guess-{attempt}", "csrf": csrf}).status_code == 401
        clock[0] += 1
    assert sign_in(client, tokens["ann"])          # a right token never counts
    client.cookies.clear()
    csrf = csrf_of(client.get("/signin"))
    assert client.get("/api/submissions", headers=bearer("ng-guess")).status_code == 401    # the tenth
    page = client.post("/signin", data={"token": tokens["bea"], "csrf": csrf})   # even a right one waits now
    wait = WINDOW - (LIMIT - 1)
    assert (page.status_code, page.headers["retry-after"]) == (429, str(int(wait)))
    assert message_of(page) == f"too many wrong tokens from your address: try again in {int(wait)} s"
    assert "<h1>Sign in</h1>" in page.text
    api = client.get("/api/submissions", headers=bearer(tokens["bea"]))
    assert (api.status_code, api.json()["error"], api.headers["retry-after"]) == (
        429, f"too many wrong tokens from your address: try again in {int(wait)} s", str(int(wait)))
    notebook = client.post(f"/mugrade/submit?user_key={tokens['bea']}&problem=forward")
    assert notebook.status_code == 429 and notebook.json()["error"].startswith("too many wrong tokens")

    with client_for(folder, follow_redirects=False, client=("203.0.113.9", 4000)) as elsewhere:   # another address is not held up
        elsewhere.app.state.throttle = client.app.state.throttle
        assert sign_in(elsewhere, tokens["bea"])
    clock[0] += wait       # the first wrong token is a minute old
    assert sign_in(client, tokens["bea"])


def test_the_throttle_counts_wrong_tokens_over_a_sliding_window_and_forgets_the_longest_quiet(monkeypatch):
    from grader.serve import throttle

    clock = [0.0]
    limiter = throttle.Throttle(limit=2, window=60, clock=lambda: clock[0])
    assert [limiter.admit("a") for _ in range(5)] == [0] * 5     # checks in flight at once: none found wrong yet
    limiter.failed("a")
    clock[0] = 10
    limiter.failed("a")
    assert limiter.admit("a") == 50
    clock[0] = 59.5
    assert limiter.admit("a") == 1               # rounded up: never "0 s"
    clock[0] = 60
    assert limiter.admit("a") == 0               # the first is a minute old: one more may try
    limiter.failed("a")
    assert limiter.admit("a") == 10
    monkeypatch.setattr(throttle, "MAX_ADDRESSES", 2)
    limiter.failed("b"), limiter.failed("b"), limiter.failed("c")   # "a" is forgotten
    assert [limiter.admit("a"), limiter.admit("b")] == [0, 60]
    limiter.failed("a")                          # and now "b" is the longest quiet
    assert limiter.admit("b") == 0


def test_a_classroom_behind_one_address_is_never_throttled_by_its_right_tokens(course, monkeypatch):
    """Many students' right tokens checked at once (pages, notebooks, a deadline) from one address all pass."""
    from grader.serve import store
    from grader.serve.throttle import LIMIT

    folder, tokens, client = course
    right = [tokens["ann"], tokens["bea"]] * (LIMIT // 2 + 3)     # more than LIMIT, fewer than the read slots
    all_in_flight = threading.Barrier(len(right), timeout=20)

    def hash_once_all_are_checking(token, hash_token=store.hash_token):
        all_in_flight.wait()
        return hash_token(token)

    monkeypatch.setattr(store, "hash_token", hash_once_all_are_checking)
    with concurrent.futures.ThreadPoolExecutor(len(right)) as pool:
        statuses = list(pool.map(lambda token: client.get("/api/submissions", headers=bearer(token)).status_code,
                                 right))
    assert statuses == [200] * len(right)


@pytest.mark.parametrize("path, method, status, heading", [
    ("/no/such/page", "get", 404, "Page not found"),
    ("/me", "delete", 405, "Not a request this page takes"),
    ("/signin", "put", 405, "Not a request this page takes"),
])
def test_a_browser_gets_the_sites_error_page_and_a_script_gets_json(course, path, method, status, heading):
    folder, tokens, client = course
    page = getattr(client, method)(path)
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert f"<title>{heading} · Test course</title>" in page.text and f"<h1>{heading}</h1>" in page.text
    api = getattr(client, method)("/api" + path.replace("/me", "/submissions").replace("/signin", "/queue"))
    assert api.status_code == status and set(api.json()) == {"error"}


def test_each_status_has_its_own_heading():
    from grader.serve.pages import ERROR_HEADINGS

    assert len(set(ERROR_HEADINGS.values())) == len(ERROR_HEADINGS)


def _text_zip():
    return b"just some text, not an archive"


def _empty_zip():
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    return buffer.getvalue()


def _deadline_passed(folder):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    grader("course", "set", folder, "--deadline", past.isoformat(), "--late-policy", "refuse")


@pytest.mark.parametrize("case, year, settings, data, earlier, status, message", [
    ("not an archive", "2022", {}, _text_zip(), 0, 400, "hw1.zip: not a readable zip archive"),
    ("an empty archive", "2022", {}, _empty_zip(), 0, 400, "hw1.zip: no python/needle/ or apps/simple_ml.py found"),
    ("too large", "2022", {"max_archive_bytes": 2000}, None, 0, 413,
     "this course accepts archives of up to 2 KB (2000 bytes)"),
    ("cool-off", "2022", {"cooloff_seconds": 90}, None, 1, 429,
     "the course asks for 90 s between submissions: you may submit again in "),
    ("daily limit", "2022", {"daily_limit": 1, "cooloff_seconds": 600}, None, 1, 429,   # the longer wait is named
     "you have made the 1 submission a day the course allows: you may submit again in "),
    ("past the deadline", "2022", {}, None, 0, 403, "this course accepts no late submissions"),
    ("another year's layout", "2024", {}, None, 0, 422,
     "hw1.zip has the 2022 handout's layout (python/needle/ops.py), but this course grades the 2024 handout"),
], ids=["not-an-archive", "empty", "too-large", "cool-off", "daily-limit", "past-the-deadline", "another-layout"])
def test_a_refused_upload_shows_the_students_page_again_with_the_apis_message(tmp_path, case, year, settings, data,
                                                                              earlier, status, message):
    folder = tmp_path / "course"
    tokens = make_course(folder, year=year, **settings)
    if case == "past the deadline":
        _deadline_passed(folder)
    with client_for(folder, follow_redirects=False) as client:
        csrf = sign_in(client, tokens["ann"])
        for _ in range(earlier):
            assert client.post("/api/submissions", headers=bearer(tokens["ann"]),
                               files={"archive": ("a.zip", zipped("alice"))}).status_code == 202
        page = client.post("/submit", data={"csrf": csrf}, files={"archive": ("hw1.zip", data or zipped("alice"))})
        api = client.post("/api/submissions", headers=bearer(tokens["ann"]),
                          files={"archive": ("hw1.zip", data or zipped("alice"))})
    assert page.status_code == status, page.text
    assert STUDENT_PAGE in page.text and message in message_of(page)
    assert (api.status_code, message in api.json()["error"]) == (status, True)
    if status == 429:       # the wait may differ by the second between the two
        assert int(page.headers["retry-after"]) > 0 and int(api.headers["retry-after"]) > 0
    else:
        assert api.json()["error"] == message_of(page)
    assert len(jobs_of(folder)) == earlier


def test_a_page_upload_larger_than_the_cap_is_refused_before_its_body_is_read(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder, max_archive_bytes=100_000)
    with client_for(folder, follow_redirects=False) as client:
        csrf = sign_in(client, tokens["ann"])
        page = client.post("/submit", data={"csrf": csrf}, files={"archive": ("big.zip", b"PK\x03\x04" * 200_000)})
        signin = client.post("/signin", content=b"token=" + b"x" * 300_000,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        api = client.post("/api/submissions", headers=bearer(tokens["ann"]),
                          files={"archive": ("big.zip", b"PK\x03\x04" * 200_000)})
    assert page.status_code == 413 and STUDENT_PAGE in page.text
    assert message_of(page) == ("the upload is 0.8 MB: this course accepts archives of up to 98 KB (100000 bytes); "
                                "put only python/ and apps/ in it (needle-check submit sends only those)")
    assert signin.status_code == 413 and "<h1>Upload too large</h1>" in signin.text
    assert api.status_code == 413 and api.json()["error"] == message_of(page)
    assert jobs_of(folder) == []


def test_the_student_page_tells_the_archive_cap_and_carries_it_for_the_browsers_own_check(course):
    folder, tokens, client = course
    sign_in(client, tokens["ann"])
    page = client.get("/me").text
    assert "(at most 5 MB; the grader reads only" in page
    assert 'id="upload" data-max-bytes="5242880"' in page


def test_the_kit_builds_holding_no_read_slot(tmp_path, monkeypatch):
    """A class clicking the kit's link at once held every read slot while the kit built under its lock."""
    from grader import student_kit
    from grader.serve import course_kit, dependencies

    folder = tmp_path / "course"
    tokens = make_course(folder)
    monkeypatch.setattr(dependencies, "READ_SLOTS", 1)
    monkeypatch.setattr(course_kit, "_built", {})
    building, go_on = threading.Event(), threading.Event()
    build = student_kit.build_for

    def slow_build(*args):
        building.set()
        go_on.wait(30)
        return build(*args)

    monkeypatch.setattr(student_kit, "build_for", slow_build)
    with client_for(folder, follow_redirects=False) as client:
        kit = concurrent.futures.ThreadPoolExecutor(1).submit(
            client.get, f"/kit/{student_kit.wheel_name()}", headers=bearer(tokens["ann"]))
        try:
            assert building.wait(30)
            other = finished_within(10, lambda: client.get("/api/submissions", headers=bearer(tokens["bea"])))
        finally:      # the kit's request ends before the app does, whatever happened
            go_on.set()
            reply = kit.result(60)
    assert other.status_code == 200
    assert reply.status_code == 200 and reply.content.startswith(b"PK\x03\x04")


def test_a_kit_this_server_cannot_build_is_a_503_saying_why(course, monkeypatch):
    from grader import student_kit
    from grader.serve import course_kit

    folder, tokens, client = course

    def no_space(folder, *args):
        raise OSError(28, "No space left on device", f"{folder}/dist")

    monkeypatch.setattr(course_kit, "_built", {})
    monkeypatch.setattr(student_kit, "build_for", no_space)
    reply = client.get(f"/kit/{student_kit.wheel_name()}", headers=bearer(tokens["ann"]))
    assert reply.status_code == 503
    assert message_of(reply) == ("the student kit cannot be built on this server: [Errno 28] No space left on device: "
                                 "'(a path on the grading machine)'")


def test_an_unreachable_database_is_a_503_whose_details_stay_in_the_log(course, caplog):
    from grader.serve import ServiceError

    folder, tokens, client = course
    sign_in(client, tokens["ann"])
    database = client.app.state.database
    secret_url = f"sqlite:///{folder}/course.db"

    @contextlib.contextmanager
    def unreachable():
        raise ServiceError(f"the course database {secret_url} cannot be used: database is locked")
        yield

    database.reading = unreachable
    with caplog.at_level(logging.WARNING, logger="needle-grader.web"):
        page = client.get("/me")
        api = client.get("/api/submissions", headers=bearer(tokens["ann"]))
    del database.reading
    for reply in (page, api):
        assert reply.status_code == 503 and reply.headers["retry-after"] == "30"
        assert str(folder) not in reply.text and "sqlite" not in reply.text
    assert "<h1>Service unavailable</h1>" in page.text
    reference = re.search(r"reference ([0-9a-f]{8})", api.json()["error"]).group(1)
    assert api.json()["error"] == ("the service cannot reach its database or queue right now: try again in a minute "
                                   f"(reference {reference})")
    logged = [record.getMessage() for record in caplog.records if reference in record.getMessage()]
    assert logged == [f"reference {reference}: GET /api/submissions: the course database {secret_url} cannot be "
                      "used: database is locked"]


def test_a_failure_of_ours_gives_the_error_page_with_a_reference_and_the_traceback_only_in_the_log(course, caplog,
                                                                                                  monkeypatch):
    from grader.serve import gradebook

    folder, tokens, client = course
    sign_in(client, tokens["prof"])

    def broken(*args):
        raise RuntimeError(f"cannot read {folder}/course.db")

    monkeypatch.setattr(gradebook, "rows", broken)
    with caplog.at_level(logging.ERROR, logger="needle-grader.web"):
        page = client.get("/instructor")
        api = client.get("/api/gradebook", headers=bearer(tokens["prof"]))
    assert page.status_code == 500 and "<h1>Something went wrong</h1>" in page.text
    assert "prof (instructor)" in page.text           # still the site's layout, signed in
    assert api.status_code == 500 and set(api.json()) == {"error"}
    for reply in (page, api):
        assert str(folder) not in reply.text and "Traceback" not in reply.text and "RuntimeError" not in reply.text
        reference = re.search(r"reference ([0-9a-f]{8})", reply.text).group(1)
        record = next(record for record in caplog.records if reference in record.getMessage())
        assert record.exc_info[0] is RuntimeError


def test_a_failure_of_a_workers_own_is_shown_without_the_grading_machines_paths(course):
    from grader.serve.models import Job

    folder, tokens, client = course
    client.post("/api/submissions", headers=bearer(tokens["ann"]), files={"archive": ("hw1.zip", zipped("alice"))})
    db = database(folder)
    with db.session() as session:
        job = session.get(Job, 1)
        job.state, job.internal = "failed", True
        job.error = (f"the service could not grade this (OSError: [Errno 28] No space left on device: "
                     f"'{folder}/jobs/hw1.zip'); it was tried 2 times")
    db.close()
    shown = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()["error"]
    listed = client.get("/api/queue", headers=bearer(tokens["prof"])).json()["failed"][0]["error"]
    assert shown == listed == ("the service could not grade this (OSError: [Errno 28] No space left on device: "
                               "'(a path on the grading machine)'); it was tried 2 times")


# --- every route, malformed and hostile input -------------------------------------------------------------------

def routes(dependants=False):
    """``(method, path, path parameters, query parameters)`` of every route the app's routers declare (with
    ``dependants``: ``(method, path, its FastAPI dependant)``)."""
    from grader.serve import routes as package

    def names(dependant, kind):
        found = [field.alias for field in getattr(dependant, kind)]
        return found + [name for sub in dependant.dependencies for name in names(sub, kind)]

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for route in getattr(module, "router").routes:
            for method in sorted(route.methods):
                if dependants:
                    found.append((method, route.path, route.dependant))
                    continue
                found.append((method, route.path, sorted(set(names(route.dependant, "path_params"))),
                              sorted(set(names(route.dependant, "query_params")))))
    return found


HOSTILE_VALUES = ("1", "0", "-1", "99999999999999999999999", "abc", "..%2F..%2Fetc%2Fpasswd", "%00", "%F0%28",
                  "x" * 3000, "<script>alert(1)</script>", "1e309", "NaN")


@functools.cache
def _zip_bomb():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("python/needle/ops.py", b"#" * (60 * 1024 * 1024))
    return buffer.getvalue()


@functools.cache
def _slip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../../etc/cron.d/x", "* * * * * root true\n")
    return buffer.getvalue()


def bodies(csrf):
    """Request bodies to post: ``(keyword arguments of the request)``."""
    return [
        {},
        {"content": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}},
        {"content": b"[" * 200_000, "headers": {"Content-Type": "application/json"}},
        {"content": b'{"_encoded_type": "np.ndarray", "data": [[1], [1, 2]]}'},
        {"content": b"--x\r\nContent-Disposition: form-data; name=\"archive\"\r\n\r\n",
         "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
        {"content": b"no boundary", "headers": {"Content-Type": "multipart/form-data"}},
        {"data": {"csrf": csrf, "token": "' OR 1=1 --"}, "files": {"archive": ("../../x.zip", _zip_bomb())}},
        {"data": {"csrf": "forged"}, "files": {"archive": ("x.tar.gz", b"\x1f\x8b" + b"\x00" * 64)}},
        {"data": {"csrf": csrf}, "files": {"archive": ("slip.zip", _slip()), "other": ("y.zip", b"PK")}},
        {"data": {"csrf": csrf, **{f"field{index}": "x" for index in range(50)}}},
        {"content": b"token=1", "headers": {"Content-Type": "application/x-www-form-urlencoded",
                                            "Content-Length": "999999999999"}},
    ]


LEAKS = ("Traceback", 'File "', "sqlite:", "postgresql", str(REPO_ROOT), "/tmp/")


def check_reply(reply, where, folder, audit):
    text = reply.content.decode("utf-8", errors="replace")
    assert reply.status_code < 500, (where, reply.status_code, text[:500])
    for leak in (*LEAKS, str(folder)):
        assert leak not in text, (where, leak, text[:500])
    if reply.status_code >= 400:
        if where[1].startswith(("/api/", "/mugrade/")):
            body = reply.json()
            assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], (where, body)
        else:
            assert reply.headers["content-type"].startswith("text/html"), (where, reply.headers)
            assert '<header class="site">' in text and "<h1" in text, (where, text[:300])
    assert not audit, (where, audit)


@contextlib.contextmanager
def audited(app, monkeypatch):
    """Every write transaction records, in ``found``, a page rendered or another session opened inside it."""
    from grader.serve import pages

    database, here, found = app.state.database, threading.local(), []
    session, reading = database.session, database.reading

    @contextlib.contextmanager
    def writing():
        if getattr(here, "writing", 0):
            found.append("a write transaction opened inside another")
        here.writing = getattr(here, "writing", 0) + 1
        try:
            with session() as opened:
                yield opened
        finally:
            here.writing -= 1

    @contextlib.contextmanager
    def read_only():
        if getattr(here, "writing", 0):
            found.append("a read transaction opened inside a write transaction")
        with reading() as opened:
            yield opened

    def watched(method):
        def render(self, *args, **kwargs):
            if getattr(here, "writing", 0):
                found.append(f"{args[0]} rendered inside a write transaction")
            return method(self, *args, **kwargs)
        return render

    database.session, database.reading = writing, read_only
    monkeypatch.setattr(pages.Page, "render", watched(pages.Page.render))
    monkeypatch.setattr(pages.Page, "fragment", watched(pages.Page.fragment))
    try:
        yield found
    finally:
        del database.session, database.reading


def test_every_route_reads_its_body_before_it_opens_a_database_session():
    """A request that waits for its body while holding a pooled connection holds it as long as the client takes:
    at a deadline, slow uploads held every connection and the others timed out (the deadline benchmark)."""
    from grader.serve import dependencies
    from grader.serve.routes import mugrade

    readers = {dependencies.reading}
    bodies = {dependencies.upload_form, dependencies.page_upload, dependencies.checked_form, mugrade.body}

    def calls(dependant):
        return [dependant.call] + [call for sub in dependant.dependencies for call in calls(sub)]

    checked = 0
    for method, path, dependant in routes(dependants=True):
        seen = [calls(sub) for sub in dependant.dependencies]
        reading_at = next((index for index, found in enumerate(seen) if readers & set(found)), len(seen))
        body_at = next((index for index, found in enumerate(seen) if bodies & set(found)), None)
        if body_at is not None:
            assert body_at < reading_at, (method, path)
            checked += 1
    assert checked >= 7


def test_a_burst_beyond_the_pool_and_the_threads_waits_its_turn_instead_of_timing_out(tmp_path, monkeypatch):
    """More requests than threads, each holding a connection across the thread pool's turns: without a bound on
    the requests holding one, threads wait for connections that only threads can give back (the deadline
    benchmark's 300 students wedged the server until the pool's timeout)."""
    import anyio

    from grader.serve import dependencies, store

    folder = tmp_path / "course"
    tokens = make_course(folder)
    monkeypatch.setattr(store, "SQLITE_POOL", {"pool_size": 1, "max_overflow": 2, "pool_timeout": 5})
    monkeypatch.setattr(dependencies, "READ_SLOTS", 2)
    with client_for(folder, follow_redirects=False) as client:
        async def few_threads():
            anyio.to_thread.current_default_thread_limiter().total_tokens = 4

        client.portal.call(few_threads)
        database = client.app.state.database
        course = database.course

        def slow_course(session):      # every request holds its connection a while
            found = course(session)
            time.sleep(0.2)
            return found

        database.course = slow_course
        replies = []
        burst = [threading.Thread(target=lambda: replies.append(
            client.get("/api/submissions", headers=bearer(tokens["ann"])).status_code)) for _ in range(16)]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join(60)
    assert replies == [200] * 16


def test_every_route_answers_malformed_and_hostile_input_without_a_5xx_or_a_leak(tmp_path, monkeypatch):
    from grader.serve.throttle import Throttle

    folder = tmp_path / "course"
    tokens = make_course(folder, max_archive_bytes=400_000)
    found = sorted(routes(), key=lambda route: route[1] == "/signout")     # signing out last
    assert len(found) >= 24 and ("POST", "/mugrade/submit_test") in {(method, path) for method, path, _, _ in found}
    with client_for(folder, follow_redirects=False) as anonymous, client_for(folder, follow_redirects=False) as student, client_for(folder, follow_redirects=False) as instructor:
        for client in (anonymous, student, instructor):
            client.app.state.throttle = Throttle(limit=10**9)       # every request reaches the route
        student_csrf, instructor_csrf = sign_in(student, tokens["ann"]), sign_in(instructor, tokens["prof"])
        assert student.post("/api/submissions", headers=bearer(tokens["ann"]),
                            files={"archive": ("hw1.zip", zipped("alice"))}).status_code == 202
        anonymous_csrf = csrf_of(anonymous.get("/signin"))
        callers = [(anonymous, anonymous_csrf, {}), (anonymous, anonymous_csrf, bearer("ng-wrong")),
                   (anonymous, anonymous_csrf, {"Authorization": "Basic YW5uOnB3"}),
                   (anonymous, anonymous_csrf, bearer(tokens["ann"])), (student, student_csrf, {}),
                   (instructor, instructor_csrf, {})]
        with audited(anonymous.app, monkeypatch) as audit:
            sent = 0
            for method, path, path_params, query_params in found:
                for caller_index, (client, csrf, headers) in enumerate(callers):
                    values = HOSTILE_VALUES if caller_index == len(callers) - 1 else HOSTILE_VALUES[:2]
                    for value in values:
                        url = path
                        for name in path_params:
                            url = url.replace("{" + name + "}", value)
                        query = "&".join(f"{name}={value}" for name in query_params)
                        if query_params and caller_index in (0, 3):    # a known key in the query too
                            query = query.replace("user_key=" + value, "user_key=" + tokens["ann"])
                        for body in (bodies(csrf) if method == "POST" else [{}]):
                            options = dict(body)
                            options["headers"] = {**headers, **body.get("headers", {})}
                            reply = client.request(method, url + (f"?{query}" if query else ""), **options)
                            check_reply(reply, (method, path, value, caller_index), folder, audit)
                            sent += 1
                for other in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                    if any(taken == other and where == path for taken, where, _, _ in found):
                        continue
                    reply = anonymous.request(other, path.replace("{submission_id}", "1").replace("{name}", "ann"))
                    assert reply.status_code == 405, (other, path, reply.status_code)
                    check_reply(reply, (other, path), folder, audit)
            for path in ("/api/nothing", "/mugrade/nothing", "/nothing", "/static/nothing.js",
                         "/static/..%2F..%2Fcourse.db", "/static/../app.py", "/submissions/1/../../../etc/passwd"):
                for client in (anonymous, student):
                    reply = client.get(path)
                    assert reply.status_code == 404, (path, reply.status_code)
                    check_reply(reply, ("GET", path), folder, audit)
    assert sent > 1500
    assert [(submission, state) for submission, state, _, _ in jobs_of(folder)] == [(1, "queued")]

