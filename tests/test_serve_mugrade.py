"""The course's notebooks submit to grader serve unchanged: the mugrade protocol under /mugrade/.

A client written from the protocol's facts (tests/mugrade_peer) runs
course-style tests (``submit_*`` functions, written here) with pytest, as
the course's own client does: an instructor publishes the reference's
values, then students submit theirs from their own needle.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from service import REPO_ROOT, Server, database, grader, make_course  # noqa: E402

PEER = Path(__file__).resolve().parent / "mugrade_peer"

COURSE_TESTS = '''
import sys
sys.path.append("./python")
sys.path.append("./apps")
import numpy as np
import needle as ndl
import mugrade
from simple_ml import *


def inputs(*shapes):
    rng = np.random.default_rng(714)
    return [rng.standard_normal(shape) for shape in shapes]


def submit_forward():
    a, b = inputs((3, 4), (3, 4))
    mugrade.submit(ndl.divide(ndl.Tensor(a), ndl.Tensor(b + 4)).numpy())
    mugrade.submit(ndl.divide_scalar(ndl.Tensor(a), 2.5).numpy())
    mugrade.submit(ndl.matmul(ndl.Tensor(a), ndl.Tensor(b.T)).numpy())
    mugrade.submit(ndl.summation(ndl.Tensor(a), axes=(1,)).numpy())
    mugrade.submit(ndl.transpose(ndl.Tensor(a.reshape(2, 3, 2)), axes=(0, 2)).numpy())
    mugrade.submit(ndl.reshape(ndl.Tensor(a), (2, 6)).numpy())


def submit_backward():
    (a,) = inputs((3, 1))
    x = ndl.Tensor(a)
    ndl.summation(ndl.broadcast_to(x, (3, 3)) * ndl.Tensor(np.arange(9.0).reshape(3, 3))).backward()
    mugrade.submit(x.grad.numpy())
    y = ndl.Tensor(a.reshape(3))
    ndl.summation(ndl.negate(y) / 4.0).backward()
    mugrade.submit(y.grad.numpy())


def submit_topo_sort():
    a, b = ndl.Tensor(np.array([1.0])), ndl.Tensor(np.array([2.0]))
    c = a * b + a
    order = ndl.autograd.find_topo_sort([c])
    mugrade.submit(np.array([float(node.numpy()[0]) for node in order]))


def submit_compute_gradient():
    a, b = inputs((2, 3), (2, 3))
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    ndl.summation((x + y) * (x * y) + x).backward()
    mugrade.submit(x.grad.numpy())
    mugrade.submit(y.grad.numpy())


def submit_softmax_loss_ndl():
    (z,) = inputs((5, 10))
    labels = np.eye(10)[[1, 3, 5, 7, 9]]
    mugrade.submit(softmax_loss(ndl.Tensor(z), ndl.Tensor(labels)).numpy())
'''


def run_client(folder, server, mode, key, keyword, assignment="hw1"):
    """The client in the student's (or instructor's) homework folder: ``(exit code, printed lines)``."""
    env = {**os.environ, "MUGRADE_SERVER": server.url + "/mugrade",
           "PYTHONPATH": os.pathsep.join([str(PEER), str(folder / "python"), str(folder / "apps")])}
    done = subprocess.run([sys.executable, "-m", "mugrade", mode, key, *([assignment] if assignment else []),
                           "-k", keyword], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, [line.strip() for line in done.stdout.splitlines()]


def homework(tmp_path, name, source):
    """A student's homework folder with the course's tests in it."""
    folder = tmp_path / name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "tests").mkdir(exist_ok=True)
    (folder / "tests" / "test_hw1.py").write_text(COURSE_TESTS)
    return folder


def grader_lines(lines):
    """The client's own lines (pytest's progress dots may run into them)."""
    return [line.lstrip(".FE") for line in lines if line.lstrip(".FE").startswith(("Grader test", "Error :"))]


def raw(server, call, query, body, content_type="application/json"):
    request = urllib.request.Request(f"{server.url}/mugrade/{call}?{query}", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("mugrade")
    folder = root / "course"
    tokens = make_course(folder, students=("ann", "bea"))
    server = Server(folder, workers=0).start()
    yield root, folder, tokens, server
    assert server.stop() == 0


def test_published_values_then_a_correct_and_a_buggy_student_submit_theirs(course):
    root, folder, tokens, server = course
    ann = homework(root, "ann", REPO_ROOT / "submissions" / "alice")
    code, lines = run_client(ann, server, "submit", tokens["ann"], "forward")
    assert code == 1 and any("forward is not published yet" in line for line in lines)

    solution = root / "solution"
    grader("handout", "--with-solutions", solution)
    solution = homework(root, "solution-run", solution)
    code, lines = run_client(solution, server, "publish", tokens["prof"], "submit_")
    assert code == 0
    published = [json.loads(line[line.index("{"):]) for line in lines if '{"published"' in line]
    assert [(entry["published"], entry["values"]) for entry in published] == [
        ("forward", 6), ("backward", 2), ("topo_sort", 1), ("compute_gradient", 2), ("softmax_loss_ndl", 1)]

    code, lines = run_client(ann, server, "submit", tokens["ann"], "submit_")
    assert code == 0
    assert grader_lines(lines) == [f"Grader test {n} passed" for n in (1, 2, 3, 4, 5, 6, 1, 2, 1, 1, 2, 1)]

    bea = homework(root, "bea", REPO_ROOT / "submissions" / "bob")
    code, lines = run_client(bea, server, "submit", tokens["bea"], "forward or backward or compute_gradient")
    assert code == 1
    # bob's Transpose.compute raises on the fifth forward value, so the last two are never sent
    assert grader_lines(lines) == ["Grader test 1 passed", "Grader test 2 passed", "Grader test 3 passed",
                                   "Grader test 4 passed", "Grader test 1 failed", "Grader test 2 passed",
                                   "Grader test 1 failed", "Grader test 2 failed"]

    rows = {row["student"]: row for row in json.loads(urllib.request.urlopen(urllib.request.Request(
        server.url + "/api/gradebook", headers={"Authorization": f"Bearer {tokens['prof']}"})).read())}
    assert {problem: (entry["correct"], entry["total"]) for problem, entry in rows["ann"]["values_submitted"].items()} \
        == {"forward": (6, 6), "backward": (2, 2), "topo_sort": (1, 1), "compute_gradient": (2, 2),
            "softmax_loss_ndl": (1, 1)}
    assert {problem: (entry["correct"], entry["total"]) for problem, entry in rows["bea"]["values_submitted"].items()} \
        == {"forward": (4, 6), "backward": (1, 2), "compute_gradient": (0, 2)}
    assert rows["ann"]["score"] is None and rows["ann"]["submissions"] == 0     # values are not code graded

    from sqlalchemy import select

    from grader.serve.models import MugradeSubmission

    db = database(folder)
    with db.session() as session:
        beas = {record.problem: record for record in session.scalars(select(MugradeSubmission).where(
            MugradeSubmission.person.has(name="bea")))}
        assert [(verdict.test_index, verdict.correct) for verdict in beas["forward"].verdicts] == [
            (0, True), (1, True), (2, True), (3, True)]
        assert [(verdict.test_index, verdict.correct) for verdict in beas["backward"].verdicts] == [
            (0, False), (1, True)]
        assert json.loads(beas["backward"].verdicts[0].value)["_encoded_type"] == "np.ndarray"
    db.close()


def test_grader_course_mugrade_publish_gives_the_values_a_notebook_publishes(course):
    root, folder, tokens, server = course
    from sqlalchemy import select

    from grader.serve.models import MugradeProblem

    def published():
        db = database(folder)
        with db.session() as session:
            values = {problem.problem: json.loads(problem.values) for problem in
                      session.scalars(select(MugradeProblem))}
        db.close()
        return values

    before = published()
    tests = root / "course-repo" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_hw1.py").write_text(COURSE_TESTS)
    printed = grader("course", "mugrade-publish", folder, tests.parent)
    assert printed.splitlines() == ["published forward: 6 values", "published backward: 2 values",
                                    "published topo_sort: 1 values", "published compute_gradient: 2 values",
                                    "published softmax_loss_ndl: 1 values"]
    assert published() == before


def test_bad_requests_get_a_4xx_with_a_message_and_keys_reach_only_their_own(course):
    root, folder, tokens, server = course
    array = b'{"_encoded_type": "np.ndarray", "data": [1.0, 2.0]}'
    assert raw(server, "publish", f"user_key={tokens['prof']}&assignment=hw1&problem=probe",
               b"[1.0, 1.0, " + array + b", " + array + b"]") == (
        200, {"published": "probe", "assignment": "hw1", "values": 4})
    status, reply = raw(server, "submit", f"user_key={tokens['ann']}&assignment=hw1&problem=probe", None)
    assert status == 200
    mine = reply["submission_id"]
    query = f"user_key={tokens['ann']}&submission_id={mine}&test_case_index=0"
    for body, message in ((b"[NaN, 1.0]", "NaN is not a number JSON allows"),
                          (b'{"_encoded_type": "np.ndarray", "data": [Infinity]}', "Infinity is not a number"),
                          (b"{not json", "the body is not JSON"),
                          (b"[" * 5000 + b"]" * 5000, "nested")):
        status, reply = raw(server, "submit_test", query, body)
        assert status == 400 and message in reply["error"], reply
    status, reply = raw(server, "submit_test", query.replace("index=0", "index=7"), b"1.0")
    assert (status, reply["error"]) == (400, "test case index 7 is out of range: probe has 4 published values, "
                                             "indexed from 0")
    assert raw(server, "submit_test", query, b"1.000001") == (200, {"correct": True})      # allclose
    assert raw(server, "submit_test", query.replace("index=0", "index=1"), b'"1.0"') == (200, {"correct": False})
    assert raw(server, "submit_test", query.replace("index=0", "index=2"), array) == (200, {"correct": True})
    assert raw(server, "submit_test", query.replace("index=0", "index=3"),
               b'{"_encoded_type": "np.ndarray", "data": [[1.0, 2.0]]}') == (200, {"correct": False})  # the shape
    status, reply = raw(server, "submit_test", query.replace(f"submission_id={mine}", "submission_id=9999"), b"1.0")
    assert (status, reply["error"]) == (404, "no submission 9999 of yours")
    status, reply = raw(server, "submit_test", query.replace("index=0", "index=x"), b"1.0")
    assert status == 400 and "test_case_index" in reply["error"]
    status, reply = raw(server, "submit_test", query.replace(tokens["ann"], tokens["bea"]), b"1.0")
    assert (status, reply["error"]) == (404, f"no submission {mine} of yours")        # not bea's to answer
    status, reply = raw(server, "publish", f"user_key={tokens['ann']}&assignment=hw1&problem=forward", b"[1.0]")
    assert (status, reply["error"]) == (403, "only an instructor's key may publish reference values")
    status, reply = raw(server, "publish", "user_key=nobody&assignment=hw1&problem=forward", b"[1.0]")
    assert (status, reply["error"]) == (401, "unknown user_key: use the token your instructor gave you")
    status, reply = raw(server, "submit", f"user_key={tokens['ann']}&assignment=hw2&problem=forward", None)
    assert (status, reply["error"]) == (404, "this server grades hw1, not 'hw2'")
    status, reply = raw(server, "submit", f"user_key={tokens['ann']}&assignment=hw1", None)
    assert (status, reply["error"]) == (400, "the request names no problem: send problem=NAME, the test's name "
                                             "without submit_ (forward for submit_forward)")
    with socket.create_connection(("127.0.0.1", server.port)) as connection:   # answered before it is sent
        connection.sendall(f"POST /mugrade/submit_test?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           "application/json\r\nContent-Length: 50000000\r\n\r\n[1.0".encode())
        reply = b""
        while b"}" not in reply:
            data = connection.recv(65536)
            if not data:
                break
            reply += data
        head, _, body = reply.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413 ")
    assert json.loads(body) == {"error": "the value sent is 47.7 MB, too large to be an answer: this server takes "
                                         "values of up to 5 MB"}


def test_each_value_of_a_submission_is_answered_once_and_a_new_try_is_a_new_submission(course):
    """Answering an index again would be a free oracle, beyond the cool-off, the daily limit and the deadline."""
    root, folder, tokens, server = course
    raw(server, "publish", f"user_key={tokens['prof']}&assignment=hw1&problem=once", b"[1.0, 2.0]")
    first = raw(server, "submit", f"user_key={tokens['bea']}&assignment=hw1&problem=once", None)[1]["submission_id"]
    query = f"user_key={tokens['bea']}&submission_id={first}&test_case_index="
    assert raw(server, "submit_test", query + "0", b"0.5") == (200, {"correct": False})
    assert raw(server, "submit_test", query + "0", b"1.0") == (409, {"error": (
        f"test case 0 of submission {first} (once) was already answered, and each is answered once: to try again, "
        "run the problem's test again, which starts a new submission (the course's limits apply)")})
    assert raw(server, "submit_test", query + "0", b"0.5") == (200, {"correct": False})   # a retry: as it was
    assert raw(server, "submit_test", query + "1", b"2.0") == (200, {"correct": True})
    assert raw(server, "submit_test", query + "1", b"2.5")[0] == 409

    again = raw(server, "submit", f"user_key={tokens['bea']}&assignment=hw1&problem=once", None)[1]["submission_id"]
    assert raw(server, "submit_test", f"user_key={tokens['bea']}&submission_id={again}&test_case_index=0",
               b"1.0") == (200, {"correct": True})
    from grader.serve.models import MugradeSubmission

    db = database(folder)
    with db.reading() as session:
        kept = [(verdict.test_index, verdict.correct, verdict.value)
                for verdict in session.get(MugradeSubmission, first).verdicts]
    db.close()
    assert kept == [(0, False, "0.5"), (1, True, "2.0")]


def test_the_cool_off_applies_to_each_problem_on_its_own(course):
    root, folder, tokens, server = course
    for problem in ("one", "two"):
        raw(server, "publish", f"user_key={tokens['prof']}&assignment=hw1&problem={problem}", b"[1.0]")
    grader("course", "set", folder, "--cooloff-seconds", 600)
    try:
        first = raw(server, "submit", f"user_key={tokens['bea']}&assignment=hw1&problem=one", None)
        again = raw(server, "submit", f"user_key={tokens['bea']}&assignment=hw1&problem=one", None)
        other = raw(server, "submit", f"user_key={tokens['bea']}&assignment=hw1&problem=two", None)
    finally:
        grader("course", "set", folder, "--cooloff-seconds", 0)
    assert first[0] == 200 and other[0] == 200
    assert again[0] == 429 and again[1]["error"].startswith(
        "the course asks for 10 min between submissions of one: you may submit again in ")
