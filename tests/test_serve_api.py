"""grader serve's JSON API, against a real SQLite course in a temporary folder.

Grading happens in this process through the worker's own function
(``worker.grade_job``), in the real sandbox; the consumer and its processes
are tested in test_serve_faults.py.
"""

import datetime
import io
import json
import tarfile
import zipfile

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")


from grader import results  # noqa: E402
from service import (SAMPLES, bearer, client_for, database, free_port, grade_queued, grader, jobs_of,  # noqa: E402
                     make_course, upload, zipped)








def stored_submissions(folder):
    return len(jobs_of(folder))


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder)
    with client_for(folder) as client:
        yield folder, tokens, client


@pytest.fixture
def secret_course(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder, seed=None)
    with client_for(folder) as client:
        yield folder, tokens, client


def test_a_submission_is_queued_then_graded_and_only_its_student_and_instructors_see_it(secret_course):
    folder, tokens, client = secret_course
    sent = upload(client, tokens["ann"], zipped("alice"))
    assert sent.status_code == 202
    assert sent.json() == {"id": 1, "status": "queued", "position": 1, "warnings": []}
    waiting = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    assert (waiting["status"], waiting["position"], waiting["summary"], waiting["result"]) == (
        "queued", 1, "queued: 1st in line", None)

    assert grade_queued(folder) == [1]
    mine = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    assert (mine["status"], mine["position"], mine["late"], mine["student"]) == ("graded", None, False, "ann")
    assert (mine["summary"], mine["score_line"], mine["counted_score"]) == ("graded: 100 / 100", "100 / 100", 100.0)
    assert mine["result"]["score"] == 100 and mine["result"]["environment"]["seed"] is None   # the seed is secret
    assert mine["result"]["environment"]["reference"]["origin"] in ("computed", "cached")
    # no sandbox internals in a student's copy: no kernel, layers, uid or timings
    text = json.dumps(mine["result"])
    assert not {"platform", "sandbox", "timing", "duration_s", "restarts"} & (
        set(mine["result"]) | set(mine["result"]["environment"])
        | {key for suite in mine["result"]["suites"] for case in suite["cases"] for key in case})
    assert '"uid"' not in text and "Linux" not in text and "bubblewrap" not in text

    assert client.get("/api/submissions/1", headers=bearer(tokens["bea"])).status_code == 404
    assert client.get("/api/submissions/1", headers=bearer(tokens["bea"])).json() == {
        "error": "no submission 1 of yours"}
    assert client.get("/api/submissions", headers=bearer(tokens["bea"])).json() == []
    seen = client.get("/api/submissions/1", headers=bearer(tokens["prof"])).json()
    results.validate(seen["result"])   # the instructor's copy is the whole result
    assert seen["result"]["environment"]["seed"] not in (None, 0)
    assert "layers" in seen["result"]["environment"]["sandbox"]
    assert [entry["id"] for entry in client.get("/api/submissions", headers=bearer(tokens["prof"])).json()] == [1]
    assert client.get("/api/submissions/99", headers=bearer(tokens["prof"])).status_code == 404


@pytest.mark.parametrize("headers, message", [
    ({}, "sign in first: send Authorization: Bearer TOKEN"),
    ({"Authorization": "Bearer ng-not-a-token"}, "unknown token: ask your instructor for yours"),
    ({"Authorization": "Basic YW5uOnB3"}, "the Authorization header must be: Bearer TOKEN"),
])
def test_no_token_or_a_wrong_one_is_refused_and_nothing_is_stored(course, headers, message):
    folder, _, client = course
    for method, path in (("post", "/api/submissions"), ("get", "/api/submissions"), ("get", "/api/gradebook")):
        reply = getattr(client, method)(path, headers=headers, **({"files": {"archive": ("a.zip", zipped("alice"))}}
                                                                  if method == "post" else {}))
        assert (reply.status_code, reply.json()) == (401, {"error": message}), path
    assert stored_submissions(folder) == 0


def _zip_slip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../python/needle/autograd.py", "x = 1\n")
    return buffer.getvalue()


def _tar_with_link():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("python/needle/ops.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return buffer.getvalue()


def _damaged_member():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hw1/python/needle/ops.py", "x = 1\n")
        archive.writestr("hw1/apps/simple_ml.py", "y = 2\n")
    return buffer.getvalue().replace(b"x = 1", b"x = 2")   # the stored CRC-32 no longer matches


def _no_homework():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello\n")
    return buffer.getvalue()


@pytest.mark.parametrize("name, data, status, message", [
    ("notes.txt", b"just some text", 400, "notes.txt is not a .zip or .tar.gz archive"),
    ("hw1.zip", b"PK\x03\x04 but broken", 400, "hw1.zip: not a readable zip archive"),
    ("hw1.zip", _zip_slip(), 400, "hw1.zip: refused, it contains the unsafe path '../../python/needle/autograd.py'"),
    ("hw1.tar.gz", _tar_with_link(), 400, "hw1.tar.gz: refused, it contains a link (python/needle/ops.py)"),
    ("hw1.zip", _no_homework(), 400, "hw1.zip: no python/needle/ or apps/simple_ml.py found"),
    ("hw1.zip", _damaged_member(), 400, "hw1.zip: refused, python/needle/ops.py cannot be read from the archive "
                                        "(Bad CRC-32 for file 'hw1/python/needle/ops.py'); make the archive again"),
], ids=["not-an-archive", "broken-zip", "zip-slip", "tar-with-link", "no-homework", "damaged-member"])
def test_an_upload_the_grader_cannot_read_is_refused_with_its_reason_and_nothing_is_stored(course, name, data, status,
                                                                                           message):
    folder, tokens, client = course
    reply = upload(client, tokens["ann"], data, name)
    assert reply.status_code == status
    assert reply.json()["error"].startswith(message)
    assert stored_submissions(folder) == 0


def test_a_missing_field_and_an_archive_too_big_are_refused(course):
    folder, tokens, client = course
    reply = client.post("/api/submissions", headers=bearer(tokens["ann"]), files={"other": ("a.zip", zipped("alice"))})
    assert (reply.status_code, reply.json()) == (400, {"error": "the request needs the archive as a file field named "
                                                                "archive"})
    grader("course", "set", folder, "--max-archive-bytes", 1000)
    with client_for(folder) as small:
        reply = upload(small, tokens["ann"], zipped("alice"))
        assert reply.status_code == 413
        assert reply.json()["error"].startswith("the ")
        assert "1000 bytes" in reply.json()["error"]

        def chunks():   # no declared length: the body is counted as it arrives
            for _ in range(100):
                yield b"x" * 1000

        reply = small.post("/mugrade/submit_test?submission_id=1&test_case_index=0",
                           headers={"Content-Type": "application/json"}, content=chunks())
        assert "content-length" not in reply.request.headers
        assert (reply.status_code, reply.json()) == (413, {
            "error": "the value sent is too large to be an answer: this server takes values of up to 1 KB"})
    assert stored_submissions(folder) == 0


def test_an_archive_named_beyond_ascii_downloads_under_its_own_name_and_an_ascii_one(tmp_path):
    """A header is Latin-1 on the wire: such a name made the download a 500."""
    folder = tmp_path / "course"
    tokens = make_course(folder, students=("Łukasz", "王小明"))
    data = zipped("alice")
    with client_for(folder) as client:
        first = upload(client, tokens["王小明"], data, name="数据.zip").json()["id"]
        second = upload(client, tokens["Łukasz"], data, name="hw1.zip").json()["id"]
        mine = client.get(f"/submissions/{first}/archive", headers=bearer(tokens["王小明"]))
        seen = client.get(f"/submissions/{second}/archive", headers=bearer(tokens["prof"]))
    assert (mine.status_code, mine.content, mine.headers["content-disposition"]) == (
        200, data, "attachment; filename=\"___-1-__.zip\"; "
                   "filename*=UTF-8''%E7%8E%8B%E5%B0%8F%E6%98%8E-1-%E6%95%B0%E6%8D%AE.zip")
    assert (seen.status_code, seen.headers["content-disposition"]) == (
        200, "attachment; filename=\"_ukasz-2-hw1.zip\"; filename*=UTF-8''%C5%81ukasz-2-hw1.zip")


def test_the_cool_off_answers_429_with_when_to_retry_and_instructors_have_no_limit(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder, cooloff_seconds=600)
    with client_for(folder) as client:
        assert upload(client, tokens["ann"], zipped("alice")).status_code == 202
        again = upload(client, tokens["ann"], zipped("alice"))
        assert again.status_code == 429
        wait = int(again.headers["Retry-After"])
        assert 598 <= wait <= 600
        assert again.json()["error"].startswith(f"the course asks for 10 min between submissions: you may submit "
                                                f"again in {wait} s, at ")
        assert upload(client, tokens["bea"], zipped("alice")).status_code == 202   # limits are per student
        for _ in range(2):
            assert upload(client, tokens["prof"], zipped("alice")).status_code == 202
    assert stored_submissions(folder) == 4


def test_the_daily_limit_counts_24_hours_and_a_failure_of_the_service_uses_up_nothing(tmp_path):
    from grader.serve.models import Job, Submission

    folder = tmp_path / "course"
    tokens = make_course(folder, daily_limit=2)
    with client_for(folder) as client:
        replies = [upload(client, tokens["ann"], zipped("alice")) for _ in range(3)]
        assert [reply.status_code for reply in replies] == [202, 202, 429]
        assert replies[2].json()["error"].startswith("you have made the 2 submissions a day the course allows: you "
                                                     "may submit again in ")
        db = database(folder)
        with db.session() as session:   # the service gave up on the first: it no longer counts
            job = session.get(Job, 1)
            job.state, job.internal, job.error = "failed", True, "the worker stopped twice"
            session.get(Submission, 1).counts_for_limits = False
        db.close()
        assert upload(client, tokens["ann"], zipped("alice")).status_code == 202
        assert upload(client, tokens["ann"], zipped("alice")).status_code == 429
        queue = client.get("/api/queue", headers=bearer(tokens["prof"])).json()
        assert [(entry["submission"], entry["internal"]) for entry in queue["failed"]] == [(1, True)]
        assert [entry["position"] for entry in queue["waiting"]] == [1, 2]


def _deadline_passed(folder, days_ago=1.5, **settings):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    grader("course", "set", folder, "--deadline", past.isoformat(),
           *[part for name, value in settings.items() for part in (f"--{name.replace('_', '-')}", value)])


def test_a_late_submission_under_each_policy(course):
    folder, tokens, client = course
    _deadline_passed(folder, late_policy="refuse")
    with client_for(folder) as refusing:
        reply = upload(refusing, tokens["ann"], zipped("alice"))
        assert reply.status_code == 403
        assert reply.json()["error"].startswith("the deadline passed at ")
        assert reply.json()["error"].endswith(": this course accepts no late submissions")
        assert stored_submissions(folder) == 0
        # an extension makes it on time again
        later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()
        grader("course", "extend", folder, "bea", "--until", later)
        assert upload(refusing, tokens["bea"], zipped("alice")).status_code == 202

    _deadline_passed(folder, late_policy="accept")
    with client_for(folder) as accepting:
        assert upload(accepting, tokens["ann"], zipped("alice")).status_code == 202
    _deadline_passed(folder, late_policy="penalty", penalty_per_day=10)
    with client_for(folder) as penalising:
        assert upload(penalising, tokens["cid"], zipped("alice")).status_code == 202
        grade_queued(folder)
        late = penalising.get("/api/submissions/2", headers=bearer(tokens["ann"])).json()
        assert (late["late"], late["days_late"], late["penalty"]) == (True, 2, 0.2)
        on_time = penalising.get("/api/submissions/1", headers=bearer(tokens["bea"])).json()
        assert (on_time["late"], on_time["days_late"]) == (False, 0)
        rows = {row["student"]: row for row in penalising.get("/api/gradebook", headers=bearer(tokens["prof"])).json()}
    # accepted late under "accept", but the course's rules as they stand now give 20% off
    assert (rows["ann"]["score"], rows["ann"]["raw_score"], rows["ann"]["why"]) == (
        80.0, 100.0, "the last, none on time, 2 days late: 20% off")
    assert (rows["bea"]["score"], rows["bea"]["why"]) == (100.0, "the last on time")
    assert (rows["cid"]["score"], rows["cid"]["late"], rows["cid"]["days_late"]) == (80.0, True, 2)

    _deadline_passed(folder, late_policy="refuse")     # the door closed after a grace period under "penalty"
    with client_for(folder) as closed:
        rows = {row["student"]: row for row in closed.get("/api/gradebook", headers=bearer(tokens["prof"])).json()}
        mine = closed.get("/api/submissions/3", headers=bearer(tokens["cid"])).json()
    assert [(rows[name]["score"], rows[name]["why"]) for name in ("ann", "cid")] == [
        (80.0, "the last, none on time, 2 days late: 20% off")] * 2     # late work already in keeps its penalty
    assert (mine["days_late"], mine["penalty"]) == (2, 0.2)
    assert "late policy: refuse (late work already in: 10% off per day late)" in grader("course", "set", folder)


def test_the_gradebook_lists_the_class_alphabetically_whatever_the_case_and_accents(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder, students=("zoe", "Célia Ó", "ann", "Bob", "Émile"))
    with client_for(folder) as client:
        rows = client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()
    assert [row["student"] for row in rows] == ["ann", "Bob", "Célia Ó", "Émile", "zoe"]


def test_the_gradebook_counts_alice_bob_and_carol_submitted_by_three_students(course):
    folder, tokens, client = course
    for student, sample in (("ann", "alice"), ("bea", "bob"), ("cid", "carol")):
        assert upload(client, tokens[student], zipped(sample, nested="hw1/")).status_code == 202
    grade_queued(folder)
    rows = client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()
    assert [(row["student"], row["score"], row["counted"], row["submissions"]) for row in rows] == [
        ("ann", 100.0, 1, 1), ("bea", 54.85, 2, 1), ("cid", 0.0, 3, 1)]
    assert rows[1]["suites"] == {"forward": 9.2, "backward": 16.4284, "topo_sort": 20.0, "compute_gradient": 0.0,
                                 "softmax_loss": 7.0, "nn_epoch": 2.2222}
    assert client.get("/api/gradebook", headers=bearer(tokens["ann"])).status_code == 403

    canvas = client.get("/api/gradebook.csv", headers=bearer(tokens["prof"]))
    assert canvas.status_code == 200 and canvas.headers["content-type"].startswith("text/csv")
    assert canvas.text.splitlines() == [     # scores to two decimals
        "Student,ID,SIS User ID,SIS Login ID,Section,Test course",
        "Points Possible,,,,,100.00",
        "ann,,1,ann@example.edu,,100.00",
        "bea,,2,bea@example.edu,,54.85",
        "cid,,3,cid@example.edu,,0.00"]
    full = client.get("/api/gradebook.csv?layout=full", headers=bearer(tokens["prof"])).text.splitlines()
    assert full == [   # one format, the README's: scores and the penalty with two decimals, counts whole
        "student,email,id,score,max_score,raw_score,penalty,days_late,counted_submission,why,submissions,"
        "late_submissions,extension_until,forward,backward,topo_sort,compute_gradient,softmax_loss,nn_epoch",
        "ann,ann@example.edu,1,100.00,100.00,100.00,0.00,0,1,the last on time,1,0,,10.00,25.00,20.00,25.00,10.00,10.00",
        "bea,bea@example.edu,2,54.85,100.00,54.85,0.00,0,2,the last on time,1,0,,9.20,16.43,20.00,0.00,7.00,2.22",
        "cid,cid@example.edu,3,0.00,100.00,0.00,0.00,0,3,the last on time,1,0,,0.00,0.00,0.00,0.00,0.00,0.00"]
    bad = client.get("/api/gradebook.csv?layout=excel", headers=bearer(tokens["prof"]))
    assert (bad.status_code, bad.json()["error"]) == (400, "layout is canvas (Canvas's gradebook import) or full "
                                                           "(every column)")


def test_the_last_on_time_or_the_best_counts_and_a_regrade_queues_behind_new_submissions(course):
    folder, tokens, client = course
    for sample in ("alice", "bob"):
        upload(client, tokens["ann"], zipped(sample))
    grade_queued(folder)
    row = client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()[0]
    assert (row["counted"], row["score"], row["why"]) == (2, 54.85, "the last on time")
    grader("course", "set", folder, "--counts", "best")
    row = client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()[0]
    assert (row["counted"], row["score"], row["why"]) == (1, 100.0, "the best score")

    assert client.post("/api/regrade", headers=bearer(tokens["ann"])).status_code == 403
    regrade = client.post("/api/regrade", headers=bearer(tokens["prof"]))
    assert (regrade.status_code, regrade.json()) == (202, {"queued": 1})   # ann's counted submission alone
    assert client.post("/api/regrade", headers=bearer(tokens["prof"])).json() == {"queued": 0}   # already waiting
    sent = upload(client, tokens["bea"], zipped("carol"))
    assert sent.json()["position"] == 1                                   # ahead of the regrade
    shown = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    assert (shown["status"], shown["position"], shown["regrading"], shown["score"]) == ("queued", 2, True, 100.0)
    assert grade_queued(folder) == [4, 3]                                  # bea's first, then the regrade
    assert [(submission, state) for submission, state, _, _ in jobs_of(folder)] == [
        (1, "done"), (2, "done"), (1, "done"), (3, "done")]
    shown = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    assert (shown["status"], shown["score"], shown["regrading"]) == ("graded", 100.0, False)


def test_grader_course_regrade_queues_the_counted_submissions(course):
    folder, tokens, client = course
    upload(client, tokens["ann"], zipped("alice"))
    grade_queued(folder)
    assert grader("course", "regrade", folder).strip() == "1 counted submissions queued for regrading"
    assert [(submission, state) for submission, state, _, _ in jobs_of(folder)] == [(1, "done"), (1, "queued")]


def test_a_regrade_with_the_queue_down_is_stored_and_the_reaper_sends_it_later(course):
    """The jobs are committed before they are sent: the instructor was told 503 though the regrade was queued."""
    from grader.serve import gradebook, jobs

    folder, tokens, client = course
    upload(client, tokens["ann"], zipped("alice"))
    grade_queued(folder)
    db = database(folder)

    def to_regrade():
        with db.reading() as session:
            return gradebook.to_regrade(session, db.course(session))

    assert to_regrade() == 1
    up, client.app.state.queue = client.app.state.queue, jobs.Queue(f"redis://127.0.0.1:{free_port()}/0")
    try:
        reply = client.post("/api/regrade", headers=bearer(tokens["prof"]))
    finally:
        client.app.state.queue.close()
        client.app.state.queue = up
    assert (reply.status_code, reply.json()) == (202, {"queued": 1})
    assert [(submission, state) for submission, state, _, _ in jobs_of(folder)] == [(1, "done"), (1, "queued")]
    assert to_regrade() == 0                    # what the confirmation page counts is what was queued
    db.close()


def test_a_regrade_keeps_the_earlier_result_and_tells_the_student_what_changed_and_why(course):
    folder, tokens, client = course
    upload(client, tokens["ann"], zipped("alice"))
    grade_queued(folder)
    grader("course", "set", folder, "--year", "2024")       # alice is 2022's: graded as 2024 she loses points
    rows = client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()
    assert rows[0]["score"] == 100.0                        # nothing changes before the regrade
    db = database(folder)
    with db.reading() as session:
        assert db.course(session).regrade_needed == "the handout year changed from 2022 to 2024"
    reply = client.post("/api/regrade", params={"note": "the course is 2024's"}, headers=bearer(tokens["prof"]))
    assert reply.json() == {"queued": 1}
    with db.reading() as session:
        assert db.course(session).regrade_needed is None    # queued: the gradebook's banner goes
    db.close()
    queued = client.get("/api/queue", headers=bearer(tokens["prof"])).json()["waiting"]
    assert [(entry["purpose"], entry["note"]) for entry in queued] == [("regrade", "the course is 2024's")]
    grade_queued(folder)
    shown = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    earlier, later = shown["history"]
    assert (earlier["purpose"], earlier["score"], earlier["before"], earlier["note"]) == ("submission", 100.0, None,
                                                                                          None)
    assert (later["purpose"], later["before"], later["note"]) == ("regrade", 100.0, "the course is 2024's")
    assert later["score"] < 100 and shown["score"] == later["score"] and shown["regraded"] == later
    assert later["graded_at"].endswith("+00:00")


def test_the_schema_alembic_creates_is_the_models_and_a_folder_without_a_course_is_one_clear_line(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from click.testing import CliRunner

    from grader.cli import main
    from grader.serve.models import Base

    make_course(tmp_path / "course")
    db = database(tmp_path / "course")
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    db.close()
    outcome = CliRunner().invoke(main, ["course", "set", str(tmp_path / "nothing"), "--counts", "best"])
    assert outcome.exit_code == 2
    assert outcome.output == f"grader: error: {tmp_path / 'nothing'}: no course here (grader course init " \
                             f"{tmp_path / 'nothing'} --year YEAR creates one)\n"
    outcome = CliRunner().invoke(main, ["course", "set", str(tmp_path / "course"), "--late-policy", "sometimes"])
    assert (outcome.exit_code, outcome.output) == (
        2, "grader: error: late_policy='sometimes' cannot be used: what happens after the deadline: accept, penalty "
           "or refuse (one of accept, penalty, refuse)\n")


def test_grader_submit_sends_only_what_the_grader_reads(tmp_path):
    from grader.serve import client

    homework = tmp_path / "MyDrive" / "hw1"
    (homework / "data").mkdir(parents=True)
    (homework / "data" / "big.bin").write_bytes(b"\0" * 1000)
    (homework / "apps").mkdir()
    (homework / "python" / "needle").mkdir(parents=True)
    (homework / "python" / "needle" / "ops.py").write_text("x = 1\n")
    (homework / "apps" / "simple_ml.py").write_text("y = 2\n")
    (homework / "notes.md").write_text("mine\n")
    (tmp_path / "elsewhere.py").write_text("z = 3\n")
    (homework / "python" / "needle" / "autograd.py").symlink_to(tmp_path / "elsewhere.py")
    name, data, left_out = client.pack(str(homework))
    assert name == "hw1.zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["apps/simple_ml.py", "python/needle/ops.py"]
    assert left_out == {"python/needle/autograd.py": "is a link out of the submission, which is ignored"}


def test_every_page_answers_with_its_security_headers_and_a_student_cannot_open_instructor_pages(course):
    folder, tokens, client = course
    page = client.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/signin", data={"token": tokens["ann"]}).status_code == 403     # no CSRF token
    assert client.post("/signin", data={"token": tokens["ann"], "csrf": csrf}, follow_redirects=False).headers[
        "location"] == "/"
    me = client.get("/me")
    assert me.status_code == 200
    csrf = me.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]   # a new session has a new token
    assert client.get("/instructor").status_code == 403
    assert client.post("/api/submissions", files={"archive": ("a.zip", zipped("alice"))}).json() == {
        "error": "a request from the pages must carry their CSRF token"}
    reply = client.post("/submit", data={"csrf": csrf}, files={"archive": ("a.zip", zipped("alice"))},
                        follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (303, "/submissions/1")
    grade_queued(folder)
    fragment = client.get("/submissions/1/feedback").text
    assert "Q6 nn_epoch" in fragment and "100 / 100" in fragment
    assert client.get("/submissions/1/archive").content == zipped("alice")
    report = client.get("/instructor/report")
    assert report.status_code == 403
    new_token = grader("course", "token", folder, "ann").strip()        # a lost token is replaced:
    assert client.get("/me", follow_redirects=False).headers["location"] == "/signin"   # its sessions end
    assert client.get("/api/submissions", headers=bearer(tokens["ann"])).status_code == 401
    assert client.get("/api/submissions", headers=bearer(new_token)).status_code == 200


def test_the_class_report_is_grader_reports_page_for_the_counted_submissions(course):
    folder, tokens, client = course
    upload(client, tokens["ann"], zipped("alice"))
    upload(client, tokens["bea"], zipped("bob"))
    grade_queued(folder)
    page = client.get("/signin")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/signin", data={"token": tokens["prof"], "csrf": csrf})
    report = client.get("/instructor/report")
    assert report.status_code == 200
    # in the site's layout, under the app's own policy: its script is a file of the app's
    assert report.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'; "
                                                                "style-src 'self';")
    assert '<a href="/instructor/report" aria-current="page">Class report</a>' in report.text
    assert "<title>Class report · Test course</title>" in report.text and "<style" not in report.text
    assert '<script src="/instructor/report.js" defer></script>' in report.text and "<script>" not in report.text
    assert "2 graded, 0 could not be graded. Mean 77.43, median 77.43, lowest 54.85, highest 100." in report.text
    assert '<h3>ann: 100 / 100</h3>' in report.text and "<h3>bea: 54.85" in report.text
    script = client.get("/instructor/report.js")
    assert script.headers["content-type"].startswith("text/javascript") and "aria-sort" in script.text
    assert json.loads(client.get("/api/queue").text)["failed"] == []


def test_an_internal_error_is_retried_once_then_marked_and_costs_the_student_nothing(course):
    from grader.serve import jobs
    from grader.serve.models import Job, Submission
    from grader.serve.store import Location

    folder, tokens, client = course
    upload(client, tokens["ann"], zipped("alice"))
    db, queue = database(folder), jobs.Queue(Location.of_folder(folder).queue)
    owner = jobs.owner_name()
    for attempt in (1, 2):
        assert jobs.claim(db, 1, owner, lease_seconds=60).attempts == attempt
        jobs.give_back(db, queue, 1, owner, failed=True, error="OSError: disk full")
    with db.session() as session:
        job, record = session.get(Job, 1), session.get(Submission, 1)
        assert (job.state, job.internal, record.counts_for_limits) == ("failed", True, False)
        assert job.error.startswith("the service could not grade this (OSError: disk full); it was tried 2 times. "
                                    "This is not your fault")
    db.close()
    queue.close()
    shown = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
    assert (shown["status"], shown["summary"]) == ("could not grade", "could not grade")
    assert shown["error"].startswith("the service could not grade this")
    failed = client.get("/api/queue", headers=bearer(tokens["prof"])).json()["failed"]
    assert [(entry["submission"], entry["internal"]) for entry in failed] == [(1, True)]


def test_the_courses_time_budget_ends_a_submission_that_hangs(tmp_path):
    """``grader course set --budget-seconds`` reaches the worker's grading: past it, no case runs."""
    import shutil
    import time

    hangs = tmp_path / "hangs"
    shutil.copytree(SAMPLES / "alice", hangs)
    with open(hangs / "apps" / "simple_ml.py", "a") as handle:
        handle.write("\n\ndef softmax_loss(Z, y_one_hot):   # the last definition wins\n    while True:\n        pass\n")
    folder = tmp_path / "course"
    tokens = make_course(folder, budget_seconds=4)
    with client_for(folder) as client:
        assert upload(client, tokens["ann"], zipped(hangs)).status_code == 202
        started = time.monotonic()
        grade_queued(folder)
        took = time.monotonic() - started
        result = client.get("/api/submissions/1", headers=bearer(tokens["prof"])).json()["result"]
    cases = [case for suite in result["suites"] for case in suite["cases"]]
    spent = [case for case in cases if "(4 s for the whole submission)" in (case["message"] or "")]
    assert spent and all(case["status"] == "timeout" and case["score"] == 0 for case in spent)
    assert all(case["message"].startswith(("stopped: the time budget was spent", "not run: the time budget"))
               for case in spent)
    scored = {suite["name"]: suite["score"] for suite in result["suites"]}
    assert (scored["forward"], scored["backward"], scored["nn_epoch"]) == (10, 25, 0)   # nn_epoch never ran
    assert took < 40, took       # one case's own limit is 60 s: the budget, not a case, ended it
