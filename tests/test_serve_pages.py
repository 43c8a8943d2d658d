"""What the service's pages say, as plain functions: times in the course's zone, the feedback written for a browser,
the score as it counts, and the settings read and echoed as the instructor meant them."""

import datetime

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from grader.serve import ServiceError, course_kit, feedback, policy, settings, times  # noqa: E402
from grader.serve.store import new_course  # noqa: E402
from service import grader  # noqa: E402

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 7, 21, 40, tzinfo=UTC)


def test_times_are_read_and_written_in_the_course_zone():
    # a date alone is the end of that day there; without an offset, that zone's; an offset wins
    assert times.parse("2026-12-16", "America/New_York") == datetime.datetime(2026, 12, 17, 4, 59, 59, 999999,
                                                                               tzinfo=UTC)
    assert times.parse("2026-12-14T23:59", "America/New_York") == datetime.datetime(2026, 12, 15, 4, 59, tzinfo=UTC)
    assert times.parse("2026-07-14T23:59", "Europe/Paris") == datetime.datetime(2026, 7, 14, 21, 59, tzinfo=UTC)
    assert times.parse("2026-12-14T23:59:00-08:00", "Europe/Paris") == datetime.datetime(2026, 12, 15, 7, 59,
                                                                                          tzinfo=UTC)
    assert times.parse("2026-12-15T04:59Z", "Asia/Tokyo") == datetime.datetime(2026, 12, 15, 4, 59, tzinfo=UTC)
    with pytest.raises(ServiceError, match=r"^deadline 'tomorrow' is not an ISO-8601 time \(for example "):
        times.parse("tomorrow", "UTC", "deadline")
    with pytest.raises(ServiceError, match=r"^'Mars/Olympus' is not a time zone: give an IANA name"):
        times.parse("2026-12-14", "Mars/Olympus")

    deadline = datetime.datetime(2026, 12, 15, 4, 59, tzinfo=UTC)
    assert times.words(deadline, "America/New_York", NOW) == "Mon 14 Dec, 23:59 EST"
    assert times.words(deadline, "Europe/Paris", NOW) == "Tue 15 Dec, 05:59 CET"
    assert times.words(deadline.replace(month=7), "America/New_York", NOW) == "Wed 15 Jul, 00:59 EDT"
    assert times.words(deadline.replace(year=2027), "America/New_York", NOW) == "Tue 14 Dec 2027, 23:59 EST"
    assert times.words(None, "UTC") == "none"
    assert [times.ago(NOW - datetime.timedelta(seconds=seconds), NOW) for seconds in (20, 190, 7200, -900, 90000)] \
        == ["just now", "3 min ago", "2 h ago", "in 15 min", None]
    assert times.iso(deadline) == "2026-12-15T04:59:00+00:00"
    assert [times.megabytes(size) for size in (5 * 1024 * 1024, 512 * 1024, 12_900_000)] == ["5 MB", "0.5 MB",
                                                                                            "12.3 MB"]


def test_the_machines_zone_is_the_default(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    assert times.machine_zone() == "Asia/Kolkata"
    monkeypatch.setenv("TZ", "not a zone")
    assert times.machine_zone() != "not a zone"


def test_a_setting_is_read_in_the_zone_given_with_it_and_a_new_year_needs_a_regrade():
    course = new_course("2024", "hw1", seed=5)
    course.timezone = "UTC"
    settings.apply_settings(course, {"deadline": "2026-12-14", "timezone": "America/New_York"})
    assert course.deadline == datetime.datetime(2026, 12, 15, 4, 59, 59, 999999, tzinfo=UTC)
    assert course.regrade_needed is None
    settings.apply_settings(course, {"year": "2024"})
    assert course.regrade_needed is None          # the same year: nothing changes
    settings.apply_settings(course, {"year": "2022"})
    assert course.regrade_needed == "the handout year changed from 2024 to 2022"
    course.max_archive_bytes = 5 * 1024 * 1024
    lines = settings.describe(course)
    assert "time zone: America/New_York" in lines and "largest archive: 5 MB" in lines
    assert "deadline: Mon 14 Dec 2026, 23:59 EST (2026-12-15 04:59:59 UTC)" in lines
    assert lines[-1] == "regrade needed: the handout year changed from 2024 to 2022"
    with pytest.raises(ServiceError, match="^timezone='EST5' cannot be used: the course's time zone"):
        settings.apply_settings(course, {"timezone": "EST5"})


def test_course_commands_echo_the_times_they_understood(tmp_path):
    folder = tmp_path / "course"
    created = grader("course", "init", folder, "--year", "2024", "--timezone", "Europe/Paris", "--deadline",
                     "2026-12-14")
    assert "  time zone: Europe/Paris\n  deadline: Mon 14 Dec 2026, 23:59 CET (2026-12-14 22:59:59 UTC)\n" in created
    grader("course", "roster", folder, "--instructor", "prof")
    assert grader("course", "extend", folder, "prof", "--until", "2026-12-16T12:00") == (
        "prof: deadline Wed 16 Dec 2026, 12:00 CET (2026-12-16 11:00:00 UTC)\n")
    said = grader("course", "set", folder, "--new-seed")
    assert said.endswith("regrade needed: a new grading seed was drawn\na regrade is needed (a new grading seed was "
                         f"drawn): grader course regrade {folder} grades every counted submission again; the "
                         "gradebook says so until then\n")
    assert "a regrade is needed" not in grader("course", "set", folder, "--timezone", "Asia/Tokyo")


def case(name, message, status="error", advisory=False, causes=()):
    return {"name": name, "status": status, "advisory": advisory, "score": 0.0, "max_score": 0.0 if advisory else 1.0,
            "message": message, **({"causes": list(causes)} if causes else {})}


NOT_IMPLEMENTED = "not implemented: python/needle/ops.py, line 120, in Summation.compute: raise NotImplementedError()"


def test_cases_that_fail_the_same_way_are_one_row_and_values_beyond_the_first_few_are_behind_details():
    values = "\n".join(f"W{index}: {index} of 50 elements differ" for index in range(5))
    suite = {"name": "forward", "score": 0.0, "max_score": 3.0, "cases": [
        case("summation[a]", NOT_IMPLEMENTED), case("passing", None, "passed"),
        case("summation[b]", NOT_IMPLEMENTED), case("matmul", values, "failed"),
        case("summation[c]", NOT_IMPLEMENTED), case("tip", NOT_IMPLEMENTED, advisory=True)]}
    (question,) = feedback.questions({"suites": [suite]})
    assert (question["question"], question["passed"], question["scored"], question["tips"]) == ("Q1", 1, 5, 1)
    first, second, tip = question["rows"]
    assert (first.mark, first.lines, first.cases) == (
        "ERROR", ["not implemented (Summation.compute, python/needle/ops.py:120)"],
        ["summation[a]", "summation[b]", "summation[c]"])
    assert (second.mark, second.lines, second.more, second.cases) == (
        "FAIL", ["W0: 0 of 50 elements differ", "W1: 1 of 50 elements differ", "W2: 2 of 50 elements differ"],
        ["W3: 3 of 50 elements differ", "W4: 4 of 50 elements differ"], ["matmul"])
    assert (tip.mark, tip.tip, tip.cases) == ("TIP", True, ["tip"])   # a tip is never merged with a scored case


def test_a_row_says_the_hint_the_cause_elsewhere_or_where_the_code_failed_never_a_flag():
    hinted = case("deep", "RecursionError: maximum recursion depth exceeded\n  python/needle/autograd.py, line 407, "
                          "in find_topo_sort: x\n  ...\n  python/needle/autograd.py, line 422, in dfs: y\n"
                          "hint: keep your own stack")
    caused = case("epoch", "W1: differ\n(softmax_loss also fails softmax_loss/zero: fix that first)", "failed",
                  causes=[{"function": "softmax_loss", "case": "softmax_loss::zero"}])
    crashed = case("crash", "ValueError: bad axes\n  python/needle/ops.py, line 190, in Transpose.compute: t")
    rows = [feedback.case_row(entry, False) for entry in (hinted, caused, crashed)]
    assert rows[0].notes == ["hint: keep your own stack"]
    assert rows[0].traceback == ["python/needle/autograd.py, line 407, in find_topo_sort: x", "...",
                                 "python/needle/autograd.py, line 422, in dfs: y"]
    assert (rows[1].lines, rows[1].notes) == (["W1: differ"], ["cause: softmax_loss also fails softmax_loss/zero: "
                                                               "fix that first"])
    assert (rows[2].notes, rows[2].traceback) == (["at python/needle/ops.py, line 190, in Transpose.compute: t"], [])
    assert not any("-v" in text for row in rows for text in row.lines + row.more + row.notes)
    raised = dict(case("negate", "Negate.compute raised OverflowError: out of bounds at python/needle/ops.py:2; the "
                                 "grader used its own value and went on\nvalue: 1 of 2 elements differ", "failed"),
                  student_raised=[{"function": "Negate.compute"}])
    assert feedback.case_row(raised, False).lines == [     # what the student's compute raised leads, then the values
        "Negate.compute raised OverflowError: out of bounds at python/needle/ops.py:2; the grader used its own value "
        "and went on", "value: 1 of 2 elements differ"]


def test_the_score_line_says_what_counts_and_why():
    assert policy.score_line(100.0, 100.0, 0, 1.0, str) == "100.0 / 100.0"
    written = lambda value: f"{value:g}"   # noqa: E731
    assert policy.score_line(100.0, 100.0, 2, 0.8, written) == "100 → 80 counts (2 days late: 20% off)"
    assert policy.score_line(97.5, 100.0, 1, 1.0, written) == "97.5 / 100 (1 day late: no penalty)"


def test_warnings_come_first_lateness_then_what_the_grading_noted():
    shown = {"late": True, "days_late": 2, "penalty": 0.2, "warnings": ["a year that disagrees"],
             "result": {"notes": ["python/needle/ops.py was not submitted: the 2024 starter's version was used",
                                  "a year that disagrees"]}}
    assert feedback.warnings(shown, "Mon 14 Dec, 23:59 EST") == [
        "Submitted 2 days late: 20% off (the deadline: Mon 14 Dec, 23:59 EST).", "a year that disagrees",
        "python/needle/ops.py was not submitted: the 2024 starter's version was used"]
    assert feedback.warnings({"late": False, "result": None}, "none") == []


def test_the_kit_a_course_serves_never_holds_the_values_of_its_own_seed():
    assert course_kit.public_seed(8_214_395_005_187) == 0       # a secret seed: the published one, 0
    assert course_kit.public_seed(0) == 1                       # a course that grades with 0 itself


def test_long_paths_and_identifiers_may_wrap_only_at_slashes_underscores_and_the_dot_before_a_name():
    from grader.serve.pages import breakable

    assert breakable("not implemented (Summation.compute, python/needle/ops/ops_mathematic.py:97)") == (
        "not implemented (Summation.compute, python/<wbr>needle/<wbr>ops/<wbr>ops_<wbr>mathematic<wbr>.py:97)")
    # short words and numbers never wrap inside; the text is escaped first
    assert breakable("largest absolute error 0.0020789234 <at> nn_epoch") == (
        "largest absolute error 0.0020789234 &lt;at&gt; nn_epoch")


def _page_of(client, token):
    from test_serve_errors import sign_in

    client.cookies.clear()
    sign_in(client, token)
    return client.get("/me").text


def test_after_the_deadline_a_course_that_refuses_late_work_shows_no_upload_form_but_an_extension_does(tmp_path):
    from service import bearer, client_for, make_course, zipped

    folder = tmp_path / "course"
    tokens = make_course(folder, year="2022", timezone="America/New_York", late_policy="refuse",
                         cooloff_seconds=600)
    deadline = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(days=1)
    grader("course", "set", folder, "--deadline", deadline.isoformat())
    later = datetime.datetime.now(UTC).replace(microsecond=0) + datetime.timedelta(days=1)
    grader("course", "extend", folder, "bea", "--until", later.isoformat())
    closed = ("<strong>Submissions are closed.</strong> The deadline passed at "
              f'<time datetime="{times.iso(deadline)}">{times.words(deadline, "America/New_York")}</time>, and this '
              "course accepts no late submissions.")
    with client_for(folder, follow_redirects=False) as client:
        page = _page_of(client, tokens["ann"])
        assert closed in page
        assert 'id="upload"' not in page and "You may submit again" not in page and "needle-check submit" not in page
        # the page says what the server does: any upload of ann's is refused
        refused = client.post("/api/submissions", headers=bearer(tokens["ann"]), files={"archive": ("a.zip",
                                                                                               zipped("alice"))})
        assert refused.status_code == 403 and "accepts no late submissions" in refused.json()["error"]

        # bea's extension runs: the form, with her own deadline; a wait between uploads never closes it
        assert client.post("/api/submissions", headers=bearer(tokens["bea"]),
                           files={"archive": ("a.zip", zipped("alice"))}).status_code == 202
        page = _page_of(client, tokens["bea"])
        assert "Submissions are closed" not in page and 'id="upload"' in page and "You may submit again in" in page
        assert f'Your deadline (extended): <time datetime="{times.iso(later)}">' in page
