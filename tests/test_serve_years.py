"""A course grades one handout year: an upload in another year's layout is refused with what to do, and weaker
disagreement, or course files left out, is accepted with warnings that the feedback opens with and the gradebook
flags. The same for ``grader submit``."""

import html
import io
import zipfile

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")


from service import Server, bearer, client_for, grade_queued, grader, make_course, upload, zipped  # noqa: E402

REFUSAL_2024 = ("hw1.zip has the 2022 handout's layout (python/needle/ops.py), but this course grades the 2024 "
                "handout, whose files are python/needle/backend_numpy.py, python/needle/init/init_basic.py, "
                "python/needle/ops/ops_mathematic.py: the grader would not find your code. Start from this course's "
                "2024 handout, copy your code between its ### BEGIN YOUR SOLUTION and ### END YOUR SOLUTION markers "
                "into it, and submit again")








@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    """Each year's solution, as a student who started from that year's handout hands it in."""
    root = tmp_path_factory.mktemp("solutions")
    for year in ("2022", "2023", "2024"):
        grader("handout", "--year", year, "--with-solutions", root / year)
    return root


def with_files(data, extra):
    """The zip ``data`` with more files in it: ``{path: text}``."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        for path, text in extra.items():
            archive.writestr(path, text)
    return buffer.getvalue()


@pytest.mark.parametrize("course_year, sample, message", [
    ("2024", "2022", REFUSAL_2024),
    ("2022", "2024", "hw1.zip has the 2023, 2024 or 2025 handouts' layout (python/needle/backend_numpy.py, "
                     "python/needle/init/__init__.py, python/needle/init/init_basic.py, python/needle/ops/__init__.py, "
                     "python/needle/ops/ops_mathematic.py), but this course grades the 2022 handout, whose files are "
                     "python/needle/ops.py: the grader would not find your code. Start from this course's 2022 "
                     "handout,"),
])
def test_an_upload_in_another_years_layout_is_refused_with_what_to_do(tmp_path, solutions, course_year, sample,
                                                                      message):
    folder = tmp_path / "course"
    tokens = make_course(folder, year=course_year)
    with client_for(folder) as client:
        reply = upload(client, tokens["ann"], zipped(solutions / sample))
    assert reply.status_code == 422
    assert reply.json()["error"].startswith(message)


def test_an_ops_file_where_the_course_does_not_read_it_is_refused_even_beside_the_courses_other_files(tmp_path,
                                                                                                      solutions):
    """A 2024 package with its ops in the flat file instead: the ops would be the starter's."""
    folder = tmp_path / "course"
    tokens = make_course(folder, year="2024")
    flat_ops = (solutions / "2022" / "python" / "needle" / "ops.py").read_text()
    data = zipped(solutions / "2024")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            if not name.startswith("python/needle/ops/"):
                archive.writestr(name, source.read(name))
        archive.writestr("python/needle/ops.py", flat_ops)
    with client_for(folder) as client:
        reply = upload(client, tokens["ann"], buffer.getvalue())
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("hw1.zip has the 2022 handout's layout (python/needle/ops.py), but this "
                                            "course grades the 2024 handout")


def test_weaker_disagreement_is_graded_with_warnings_atop_the_feedback_and_a_flag_in_the_gradebook(tmp_path,
                                                                                                    solutions):
    """A 2023 solution in a 2024 course, with a stray flat ops.py: graded, and told why it may differ."""
    folder = tmp_path / "course"
    tokens = make_course(folder, year="2024")
    data = with_files(zipped(solutions / "2023"), {"python/needle/ops.py": "x = 1\n"})
    warnings = [
        "python/needle/ops.py belongs to the 2022 handout's layout, not this course's 2024 one: the grader does not "
        "read it",
        "Your files look like the 2023 handout's starter in places: the Tensor defines __rsub__ and __rmatmul__ "
        "(python/needle/autograd.py); the ops do not set BACKEND (python/needle/ops/ops_mathematic.py); one_hot passes "
        "the labels on as they are (python/needle/init/init_basic.py). This course grades every submission as the "
        "2024 handout: if you started from another year's, move your code into this year's files"]
    with client_for(folder) as client:
        sent = upload(client, tokens["ann"], data)
        assert (sent.status_code, sent.json()["warnings"]) == (202, warnings)
        assert upload(client, tokens["bea"], zipped(solutions / "2024")).json()["warnings"] == []
        grade_queued(folder)
        mine = client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()
        assert (mine["status"], mine["warnings"]) == ("graded", warnings)
        rows = {row["student"]: row for row in client.get("/api/gradebook", headers=bearer(tokens["prof"])).json()}
        assert (rows["ann"]["warnings"], rows["bea"]["warnings"], rows["cid"]["warnings"]) == (warnings, [], [])
        signin = client.get("/signin").text
        csrf = signin.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/signin", data={"token": tokens["ann"], "csrf": csrf})
        page = client.get("/submissions/1").text
        feedback = page[page.index('<div id="feedback"'):]
        assert feedback.index('<section class="warnings"') < feedback.index('<table class="feedback">')
        assert all(f"<li>{warning}</li>" in html.unescape(feedback) for warning in warnings)
    assert mine["score"] == 100.0


def test_files_left_out_are_listed_as_the_starters_and_a_new_year_reads_every_submission_again(tmp_path):
    folder = tmp_path / "course"
    tokens = make_course(folder, year="2022")
    with client_for(folder) as client:
        sent = upload(client, tokens["ann"], zipped("dave"))     # ops.py and simple_ml.py only
        assert sent.json()["warnings"] == [
            "Not in the archive, so the 2022 starter's version is graded in its place: python/needle/__init__.py, "
            "python/needle/autograd.py"]
    grader("course", "set", folder, "--year", "2024")
    with client_for(folder) as client:
        assert client.get("/api/submissions/1", headers=bearer(tokens["ann"])).json()["warnings"] == [REFUSAL_2024]


def test_grader_submit_prints_the_refusal_and_the_warnings(tmp_path, solutions):
    from grader.serve import ServiceError, client

    folder = tmp_path / "course"
    tokens = make_course(folder, year="2024")
    server = Server(folder, workers=0).start()
    try:
        with pytest.raises(ServiceError) as refused:
            client.submit(str(solutions / "2022"), server.url, tokens["ann"])
        said = []
        client.submit(str(solutions / "2023"), server.url, tokens["bea"], echo=said.append, progress=said.append)
    finally:
        assert server.stop() == 0
    assert str(refused.value) == f"{server.url} refused: 422: {REFUSAL_2024.replace('hw1.zip', '2022.zip')}"
    assert said[0] == "submitted 2023.zip as submission 1: queued at position 1"
    assert said[1].startswith("warning: Your files look like the 2023 handout's starter in places: the Tensor defines ")
    assert len(said) == 2
