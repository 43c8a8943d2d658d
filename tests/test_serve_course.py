"""A course's files and commands: private files, a roster that never loses a token, the commands without the
service's packages, publishing the course's own tests' values, and the course's time budget."""

import csv
import io
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the course service's packages are not installed (pip install .[serve])")

from click.testing import CliRunner  # noqa: E402

from service import REPO_ROOT, Server, database, grader, make_course, wait_for, zipped  # noqa: E402


def run(*args):
    """A grader command in this process: ``(exit code, stdout, stderr)``."""
    from grader.cli import main

    outcome = CliRunner().invoke(main, [str(arg) for arg in args])
    return outcome.exit_code, outcome.stdout, outcome.stderr


def modes(folder):
    """``{name: permission bits}`` of the folder itself (``.``) and everything in it but the test's own roster."""
    found = {".": stat.S_IMODE(os.stat(folder).st_mode)}
    found.update({path.name: stat.S_IMODE(path.stat().st_mode) for path in Path(folder).iterdir()
                  if path.name != "roster.csv"})
    return found


# --- private files ------------------------------------------------------------------------------------------------

def test_init_makes_the_folder_private_and_every_file_in_it(tmp_path):
    os.umask(0o022)
    folder = tmp_path / "course"
    grader("course", "init", folder, "--year", "2024")
    assert modes(folder) == {".": 0o700, "course.json": 0o600, "course.db": 0o600, "queue.db": 0o600}
    assert os.umask(0o022) == 0o022       # the command's umask was its own


@pytest.mark.parametrize("option, value", [("--timezone", "Mars/Olympus"), ("--deadline", "next tuesday")])
def test_an_init_refused_for_a_setting_makes_nothing_and_a_second_try_succeeds(tmp_path, option, value):
    folder = tmp_path / "course"
    code, _, err = run("course", "init", folder, "--year", "2024", option, value)
    assert code == 2 and err.startswith("grader: error: ") and len(err.splitlines()) == 1
    assert not folder.exists()
    grader("course", "init", folder, "--year", "2024")
    assert sorted(os.listdir(folder)) == ["course.db", "course.json", "queue.db"]


def test_serving_and_grading_a_submission_keep_every_file_private(tmp_path):
    from grader.serve.client import Client

    folder = tmp_path / "course"
    tokens = make_course(folder, cooloff_seconds=0)
    server = Server(folder, workers=1, log=tmp_path / "serve.log").start()
    try:
        sent = Client(server.url, tokens["ann"]).submit("hw1.zip", zipped("alice"))
        wait_for(lambda: Client(server.url, tokens["ann"]).submission(sent["id"])["status"] == "graded", 120,
                 what="the submission graded")
        while_serving = modes(folder)
    finally:
        assert server.stop() == 0
    assert {"course.db-wal", "queue.db-wal"} <= set(while_serving)     # SQLite's own files came and went
    assert set(while_serving.values()) == {0o700, 0o600} and while_serving["."] == 0o700, while_serving
    assert set(modes(folder).values()) == {0o700, 0o600}


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_a_course_whose_files_others_can_read(tmp_path, command):
    folder = tmp_path / "course"
    make_course(folder)
    os.chmod(folder / "course.db", 0o644)
    os.chmod(folder / "queue.db", 0o640)
    done = subprocess.run([sys.executable, "-m", "grader", command, str(folder), *(
        ("--port", "9", "--workers", "0") if command == "serve" else ())], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"grader: error: {folder}/course.db, {folder}/queue.db: open to other users of this "
                           "machine, yet they hold the course's secrets (its session secret, grading seed, token "
                           f"hashes and every archive): run chmod -R go= {folder} and start again\n")
    subprocess.run(["chmod", "-R", "go=", str(folder)], check=True)
    from grader.serve.store import Location, check_private

    check_private(Location.of_folder(folder), folder)


def test_serve_on_a_port_in_use_says_so_in_one_line_and_never_that_it_serves(tmp_path):
    folder = tmp_path / "course"
    make_course(folder)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "grader", "serve", str(folder), "--port", str(port),
                               "--workers", "0"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"grader: error: cannot serve at 127.0.0.1:{port}: Address already in use (another "
                           "grader serve? --port chooses another)\n")


# --- the roster ---------------------------------------------------------------------------------------------------

def tokens_in(path):
    with open(path, newline="") as handle:
        return [tuple(row) for row in csv.reader(handle)]


def test_the_roster_appends_only_new_peoples_tokens_and_never_truncates_the_file(tmp_path):
    folder, roster, tokens = tmp_path / "course", tmp_path / "students.csv", tmp_path / "tokens.csv"
    grader("course", "init", folder, "--year", "2022")
    roster.write_text(" Name ,EMAIL,Id\nann,ann@example.edu,1\nbea,bea@example.edu,2\n")
    code, out, err = run("course", "roster", folder, roster, "--instructor", "prof", "--tokens", tokens)
    assert (code, out, err) == (0, "", f"3 added, their tokens appended to {tokens}\n")
    first = tokens_in(tokens)
    assert [row[0] for row in first] == ["name", "ann", "bea", "prof"]
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600

    roster.write_text("name,email,id\nann,ann@example.edu,1\nbea,bea@example.edu,2\ncid,cid@example.edu,3\n")
    code, out, err = run("course", "roster", folder, roster, "--instructor", "prof", "--tokens", tokens)
    assert (code, err) == (0, f"1 added, their tokens appended to {tokens}; 3 already on the roster kept their "
                              "tokens\n")
    assert tokens_in(tokens)[:4] == first and [row[0] for row in tokens_in(tokens)[4:]] == ["cid"]
    code, out, err = run("course", "roster", folder, roster, "--tokens", tokens)
    assert (code, err) == (0, f"nobody new: {tokens} is as it was; 3 already on the roster kept their tokens\n")
    before = tokens_in(tokens)
    code, out, err = run("course", "token", folder, "bea", "--tokens", tokens)
    assert (code, out, err) == (0, "", f"bea's new token appended to {tokens}: the old one no longer signs in\n")
    reissued = tokens_in(tokens)
    assert reissued[:-1] == before and reissued[-1][0] == "bea"
    assert run("course", "token", folder, "nobody", "--tokens", tokens)[0] == 2 and tokens_in(tokens) == reissued

    from grader.serve.store import hash_token

    db = database(folder)
    from sqlalchemy import select

    from grader.serve.models import Person

    with db.session() as session:
        hashes = {person.name: (person.token_hash, person.email, person.external_id)
                  for person in session.scalars(select(Person))}
    db.close()
    assert {name: hashes[name][0] for name, _ in tokens_in(tokens)[1:]} == {
        name: hash_token(token) for name, token in tokens_in(tokens)[1:]}
    assert hashes["bea"][1:] == ("bea@example.edu", "2")


def test_a_roster_run_that_fails_writes_nothing(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import SessionTransaction

    folder, roster, tokens = tmp_path / "course", tmp_path / "students.csv", tmp_path / "tokens.csv"
    grader("course", "init", folder, "--year", "2022")
    roster.write_text("name\nann\n")
    assert run("course", "roster", folder, roster, "--tokens", tokens)[0] == 0
    before = tokens.read_bytes()

    roster.write_text("first,last\nbea,b\n")                         # a file that is not a roster
    code, out, err = run("course", "roster", folder, roster, "--tokens", tokens)
    assert code == 2 and err.startswith(f"grader: error: {roster}: its header reads 'first,last'; a roster is a CSV")
    assert tokens.read_bytes() == before

    roster.write_text("name\nbea\n")
    code, out, err = run("course", "roster", folder, roster, "--tokens", roster)   # a roster given as --tokens
    assert (code, err) == (2, f"grader: error: {roster}: not a tokens file (its first line is 'name', a tokens file's "
                              "is 'name,token'): give --tokens a new file or the one this command wrote\n")
    assert roster.read_text() == "name\nbea\n"

    def fails(self):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(SessionTransaction, "commit", fails)      # the database fails once the tokens are written
    code, out, err = run("course", "roster", folder, roster, "--tokens", tokens)
    assert code == 2 and "disk I/O error" in err
    assert tokens.read_bytes() == before
    code, out, err = run("course", "roster", folder, roster, "--tokens", tmp_path / "new.csv")
    assert code == 2 and not (tmp_path / "new.csv").exists()
    monkeypatch.undo()
    assert run("course", "roster", folder, roster, "--tokens", tokens)[0] == 0      # bea was never added
    assert [row[0] for row in tokens_in(tokens)] == ["name", "ann", "bea"]


CANVAS_EXPORT = '''Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (4410023),Current Score,Final Score
    Points Possible,,,,,100.00,(read only),(read only)
"Doe, Jane",88231,900100,jdoe@example.edu,10-714 A,,,
"Roe, Rick",88232,900101,rroe@example.edu,10-714 B,95.00,95.00,95.00
"Student, Test",88239,,,10-714 A,,,
'''


@pytest.mark.parametrize("text, people", [
    (CANVAS_EXPORT, [("Doe, Jane", "jdoe@example.edu", "900100"), ("Roe, Rick", "rroe@example.edu", "900101")]),
    ("Ann Lee\nBo Wu\n\n", [("Ann Lee", None, None), ("Bo Wu", None, None)]),
    ("\ufeffNAME,Email\nann,ann@example.edu\n", [("ann", "ann@example.edu", None)]),
], ids=["canvas-export", "names-without-a-header", "any-case-and-a-byte-order-mark"])
def test_the_roster_reads_canvas_exports_plain_lists_and_headers_in_any_case(tmp_path, text, people):
    from sqlalchemy import select

    from grader.serve.models import STUDENT, Person

    folder, roster = tmp_path / "course", tmp_path / "students.csv"
    grader("course", "init", folder, "--year", "2022")
    roster.write_text(text, encoding="utf-8")
    code, out, err = run("course", "roster", folder, roster)
    assert code == 0, err
    assert [row["name"] for row in csv.DictReader(io.StringIO(out))] == [name for name, _, _ in people]
    db = database(folder)
    with db.session() as session:
        assert [(person.name, person.email, person.external_id) for person in session.scalars(
            select(Person).where(Person.role == STUDENT).order_by(Person.id))] == people
    db.close()


@pytest.mark.parametrize("text, message", [
    ("first,last\nann,lee\n", "its header reads 'first,last'; a roster is a CSV with a name column (email and id "
                              "optional, any case), Canvas's gradebook export (Student, ID, SIS User ID, SIS Login ID, "
                              "Section, ...), or one name per line with no header"),
    ("email\nann@example.edu\n", "its header reads 'email'; a roster is a CSV with a name column"),
    ("name\nann\nbo\nann\n", "ann is on it more than once; names must differ (add what tells them apart, such as the "
                             "id)"),
])
def test_a_roster_that_fits_no_layout_is_refused_saying_what_it_read_and_what_is_expected(tmp_path, text, message):
    folder, roster = tmp_path / "course", tmp_path / "students.csv"
    grader("course", "init", folder, "--year", "2022")
    roster.write_text(text)
    code, out, err = run("course", "roster", folder, roster)
    assert (code, out) == (2, "")
    assert err.startswith(f"grader: error: {roster}: {message}") and err.count("\n") == 1


def test_the_gradebook_export_for_canvas_gives_back_the_ids_its_roster_export_held(tmp_path):
    folder, roster = tmp_path / "course", tmp_path / "students.csv"
    grader("course", "init", folder, "--year", "2022", "--title", "Homework 1")
    roster.write_text(CANVAS_EXPORT)
    grader("course", "roster", folder, roster)
    grader("course", "gradebook", folder, "--csv", tmp_path / "grades.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert rows[2:] == [["Doe, Jane", "", "900100", "jdoe@example.edu", "", ""],
                        ["Roe, Rick", "", "900101", "rroe@example.edu", "", ""]]


# --- without the service's packages -------------------------------------------------------------------------------

HIDING = '''import os, sys

class Hide:
    """Makes the packages named in $HIDE_PACKAGES look uninstalled."""
    hidden = set(os.environ["HIDE_PACKAGES"].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Hide())
'''
SERVICE_PACKAGES = "fastapi,uvicorn,sqlalchemy,alembic,huey,jinja2,itsdangerous,starlette"


def without(tmp_path, packages, *args, cwd=None):
    """``grader ARGS`` in a Python where ``packages`` seem not installed (a sitecustomize hides them)."""
    hiding = tmp_path / "hiding"
    hiding.mkdir(exist_ok=True)
    (hiding / "sitecustomize.py").write_text(HIDING)
    env = {**os.environ, "PYTHONPATH": str(hiding), "HIDE_PACKAGES": packages}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO_ROOT, timeout=600)


@pytest.mark.parametrize("args", [("course", "init", "{folder}", "--year", "2024"), ("course", "set", "{folder}"),
                                  ("course", "roster", "{folder}", "--instructor", "prof"), ("serve", "{folder}"),
                                  ("worker", "{folder}")], ids=["course-init", "course-set", "course-roster", "serve",
                                                                "worker"])
def test_the_service_commands_without_its_packages_name_the_install_command_in_one_line(tmp_path, args):
    done = without(tmp_path, SERVICE_PACKAGES, *(arg.format(folder=tmp_path / "course") for arg in args))
    assert done.returncode == 2
    assert done.stderr == (f"grader: error: the course service needs its packages (fastapi is missing): "
                           f"{sys.executable} -m pip install -e '{REPO_ROOT}[serve]'\n")
    assert not (tmp_path / "course").exists()


def test_grader_submit_and_grader_run_need_none_of_them(tmp_path):
    done = without(tmp_path, SERVICE_PACKAGES, "submit", REPO_ROOT / "submissions" / "alice", "--server",
                   "http://127.0.0.1:9", "--token", "ng-x")
    assert done.returncode == 2 and done.stderr.startswith("grader: error: cannot reach http://127.0.0.1:9: ")
    assert without(tmp_path, SERVICE_PACKAGES, "course", "--help").returncode == 0


# --- publishing the values of the course's own tests ------------------------------------------------------------

COURSE_TESTS = '''
import sys
sys.path.append("./python")
sys.path.append("./apps")
import numpy as np
import numdifftools as nd
import needle as ndl
import mugrade
from simple_ml import *


def test_nn_epoch_ndl():     # the course's own check: never run by a publish
    nd.Gradient(lambda w: float(np.sum(w ** 2)))(np.ones(3))


def submit_forward():
    mugrade.submit(ndl.divide_scalar(ndl.Tensor(np.arange(6.0).reshape(2, 3)), 2.5).numpy())
    mugrade.submit(ndl.summation(ndl.Tensor(np.arange(6.0).reshape(2, 3)), axes=(1,)).numpy())


def submit_softmax_loss_ndl():
    X, y = parse_mnist("data/t10k-images-idx3-ubyte.gz", "data/t10k-labels-idx1-ubyte.gz")
    mugrade.submit(X[:2].sum())


def submit_nn_epoch_ndl():
    X, y = parse_mnist("data/train-images-idx3-ubyte.gz", "data/train-labels-idx1-ubyte.gz")
    mugrade.submit(X.shape)
'''


def test_mugrade_publish_with_the_service_packages_alone_publishes_every_problem_it_can(tmp_path):
    from grader.kit import idx

    folder, repository = tmp_path / "course", tmp_path / "hw1"
    make_course(folder)
    (repository / "tests").mkdir(parents=True)
    (repository / "tests" / "test_autograd_hw.py").write_text(COURSE_TESTS)
    (repository / "tests" / "test_broken.py").write_text("import a_module_nobody_has\n\n\ndef submit_other():\n"
                                                         "    pass\n")
    idx.generate_mnist_like(repository / "data", n=100, seed=0)        # the test set only: no train-images
    done = without(tmp_path, "numdifftools", "course", "mugrade-publish", folder, repository)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == ["published forward: 2 values", "published softmax_loss_ndl: 1 values"]
    assert done.stderr.splitlines() == [
        "not published tests/test_broken.py: cannot be collected: ModuleNotFoundError: No module named "
        "'a_module_nobody_has'",
        "not published nn_epoch_ndl: FileNotFoundError: [Errno 2] No such file or directory: "
        "'data/train-images-idx3-ubyte.gz'"]


# --- the time budget ----------------------------------------------------------------------------------------------

def test_the_courses_time_budget_is_a_setting_shown_with_the_others_and_an_older_course_gets_the_default(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from grader.serve.store import _alembic_config

    folder = tmp_path / "course"
    assert "  time budget: 120 s per submission\n" in grader("course", "init", folder, "--year", "2022")
    assert "time budget: 90 s per submission" in grader("course", "set", folder, "--budget-seconds", 90).splitlines()
    code, out, err = run("course", "set", folder, "--budget-seconds", 0)
    assert (code, err) == (2, "grader: error: budget_seconds='0' cannot be used: seconds of grading one submission may "
                              "take in all; cases not run by then score 0 (a whole number, 1 or more)\n")
    db = database(folder)
    with db.engine.begin() as connection:          # a course made before the setting existed
        command.downgrade(_alembic_config(connection), "0002")
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT title FROM course")).scalar() == "10-714 homework 1"
    db.upgrade()
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT budget_seconds FROM course")).scalar() == 120
    db.close()
