"""Helpers of the course-service tests: a course in a folder, its people, archives, and grading its queue."""

import csv
import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from click.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "submissions"


def grader(*args):
    """Run a grader command in this process; its output, or an AssertionError with it."""
    from grader.cli import main

    outcome = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    assert outcome.exit_code == 0, (args, outcome.output)
    return outcome.output


def make_course(folder, students=("ann", "bea", "cid"), instructors=("prof",), year="2022", seed=0, database=None,
                queue=None, **settings):
    """A course in ``folder`` with these people; ``{name: token}``. Settings as ``grader course set`` takes them.

    The seed is 0, whose reference is published, unless given (None: a secret one, computed on first use).
    The database and queue are SQLite files in the folder unless their URLs are given.
    """
    grader("course", "init", folder, "--year", year, "--title", "Test course",
           *(("--seed", seed) if seed is not None else ()), *(("--database", database) if database else ()),
           *(("--queue", queue) if queue else ()))
    roster = Path(folder) / "roster.csv"
    roster.write_text("name,email,id\n" + "".join(f"{name},{name}@example.edu,{index}\n"
                                                    for index, name in enumerate(students, 1)))
    options = [part for name in instructors for part in ("--instructor", name)]
    printed = grader("course", "roster", folder, roster, *options)
    tokens = {row["name"]: row["token"] for row in csv.DictReader(io.StringIO(printed)) if row.get("token")}
    settings = {"cooloff_seconds": 0, **settings}
    grader("course", "set", folder, *[part for name, value in settings.items()
                                       for part in (f"--{name.replace('_', '-')}", value)])
    return tokens


def zipped(sample, nested="", leave_out=()):
    """The bytes of a zip of a sample submission (or any folder), its files under ``nested``, but ``leave_out``."""
    folder = Path(sample) if os.path.isabs(str(sample)) else SAMPLES / sample
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and name not in leave_out:
                archive.write(path, nested + name)
    return buffer.getvalue()


SLOW = """

import time as _time
from . import autograd as _autograd

_numpy = _autograd.Tensor.numpy


def _slow_numpy(self):   # every value the grader reads takes a while: a grading is long enough to catch midway
    _time.sleep({seconds})
    return _numpy(self)


_autograd.Tensor.numpy = _slow_numpy
"""


def slowed(sample, folder, seconds=0.0005):
    """A copy of the sample in ``folder`` that grades as it does, only slower: its path."""
    import shutil

    copy = Path(folder) / Path(sample).name
    shutil.copytree(SAMPLES / sample, copy)
    with open(copy / "python" / "needle" / "__init__.py", "a") as init:
        init.write(SLOW.format(seconds=seconds))
    return copy


def database(folder):
    from grader.serve.store import Database, Location

    return Database(Location.of_folder(folder).database)


def grade_queued(folder):
    """Grade every queued job of the course in this process, as a worker would: the ids graded."""
    from sqlalchemy import select

    from grader.serve import worker
    from grader.serve.models import QUEUED, Job
    from grader.serve.store import Location

    location = Location.of_folder(folder)
    if worker.WORKER is None or worker.WORKER.database_url != location.database:
        worker.WORKER = worker.Worker(location.database, location.queue)
    db = database(folder)
    graded = []
    while True:
        with db.session() as session:
            waiting = session.scalars(select(Job.id).where(Job.state == QUEUED)
                                      .order_by(Job.priority.desc(), Job.id)).all()
        if not waiting:
            break
        worker.grade_job(waiting[0])
        graded.append(waiting[0])
    db.close()
    return graded


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


class Server:
    """``grader serve`` in a process of its own, on a free loopback port."""

    def __init__(self, folder, workers=1, log=None):
        self.folder, self.workers = folder, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log or Path(folder) / "serve.log", "ab")
        self.process = None

    def start(self, timeout=60):
        self.process = subprocess.Popen([sys.executable, "-m", "grader", "serve", str(self.folder), "--port",
                                         str(self.port), "--workers", str(self.workers)], cwd=REPO_ROOT,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"grader serve did not listen within {timeout} s")

    def stop(self, timeout=30):
        """Stop it as Ctrl-C does; its exit code."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"grader serve did not stop within {timeout} s")
        return self.process.returncode

    def close(self):
        try:
            self.stop()
        finally:
            self.log.close()


def jobs_of(folder):
    """Every job of the course as ``(submission, state, attempts, score)``, in order."""
    from sqlalchemy import select

    from grader.serve.models import Job

    db = database(folder)
    with db.session() as session:
        rows = [(job.submission_id, job.state, job.attempts, job.score)
                for job in session.scalars(select(Job).order_by(Job.id))]
    db.close()
    return rows


def _stat(pid):
    """The fields of /proc/PID/stat after the command's name: state, parent, ..., start time (index 19)."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def process_tree(pid):
    """``{pid: start time}`` of a process and every process below it, as they are now."""
    children, started = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(entry)
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
            started[int(entry)] = fields[19]
    tree, todo = {}, [pid]
    while todo:
        current = todo.pop()
        if current in started:
            tree[current] = started[current]
            todo.extend(children.get(current, ()))
    return tree


def still_running(tree):
    """The processes of ``tree`` (from ``process_tree``) that still run: same pid and start, not a zombie."""
    running = []
    for pid, start in tree.items():
        try:
            fields = _stat(pid)
        except OSError:
            continue
        if fields[19] == start and fields[0] != "Z":
            running.append(pid)
    return running


def commands(tree):
    """What each process of ``tree`` runs, for a message."""
    found = []
    for pid in tree:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                found.append(handle.read().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            pass
    return found


def wait_for(condition, timeout, every=0.25, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def client_for(folder, **options):
    """A TestClient of the course's web app in this process (no reaper); ``options`` go to TestClient."""
    from fastapi.testclient import TestClient

    from grader.serve.app import create_app
    from grader.serve.store import Location

    return TestClient(create_app(Location.of_folder(folder), reaper=False), **options)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, data, name="hw1.zip"):
    """POST an archive to the API as the person holding ``token``."""
    return client.post("/api/submissions", headers=bearer(token), files={"archive": (name, data)})
