"""The service's commands: ``grader course ...``, ``grader serve``, ``grader worker``, ``grader submit``.

They load the service's packages (FastAPI, SQLAlchemy, Huey...) only when
run, so ``grader run`` works without them; without them, these commands say
in one line how to install them (exit code 2). ``grader submit`` needs none.

A course's files hold its secrets, so these commands make every file they
create readable by their user alone (umask 077), and ``serve`` and
``worker`` refuse a course whose files others can read, saying how to fix it.
"""

import csv
import errno
import functools
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import threading

import click

from ..years import YEARS
from . import ServiceError, settings

DATABASE_ENV, QUEUE_ENV = "NEEDLE_GRADER_DATABASE", "NEEDLE_GRADER_QUEUE"
STOP_SECONDS = 15      # a worker's grace to give its running jobs back when the service stops
GRADING_NICENESS = 10  # serve's own grading processes yield the CPU to its web app

database_option = click.option("--database", help="The course's database URL (postgresql://...), instead of "
                                                  "the one the course folder names (course.db in it by default).")
queue_option = click.option("--queue", help="The queue's URL (redis://... or postgresql://...), instead of the "
                                            "one the course folder names (queue.db in it by default).")


SERVICE_PACKAGES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "huey", "jinja2", "itsdangerous")
PRIVATE = 0o077     # the umask of whatever touches a course's files: only their owner reads what is created


def install_command():
    """How to install the service's packages into this Python: from the checkout it runs from, if it does."""
    root = pathlib.Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():
        return f"{shlex.quote(sys.executable)} -m pip install -e {shlex.quote(f'{root}[serve]')}"
    return f"{shlex.quote(sys.executable)} -m pip install 'needle-grader[serve]'"


def _needs_service():
    for package in SERVICE_PACKAGES:
        try:
            __import__(package)
        except ImportError:
            raise ServiceError(f"the course service needs its packages ({package} is missing): "
                               f"{install_command()}") from None


def _course_command(function):
    """A command on a course: the service's packages are there, and what it creates only its user reads."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        _needs_service()
        previous = os.umask(PRIVATE)
        try:
            return function(*args, **kwargs)
        finally:
            os.umask(previous)
    return run


def _open(folder, database=None, queue=None, migrate=True, create=False):
    """The course's location and database; ``migrate`` brings an older schema up to date."""
    from .store import COURSE_FILE, Database, Location

    if create:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    elif not os.path.isfile(os.path.join(folder, COURSE_FILE)) and not database:
        raise ServiceError(f"{folder}: no course here (grader course init {folder} --year YEAR creates one)")
    location = Location.of_folder(folder, database, queue)
    db = Database(location.database)
    if migrate:
        db.upgrade()
    return location, db


def _jobs_default():
    from .. import batch, isolation

    return batch.default_jobs(isolation.Limits().memory_bytes)[0]


@click.group(name="course")
def course_group():
    """Run a course: create it, its roster, its settings, extensions, regrades."""


@course_group.command(name="init")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--year", type=click.Choice(YEARS), required=True,
              help="The handout year the course uses: every submission is graded as it.")
@click.option("--timezone", help="The course's time zone, an IANA name such as America/New_York [default: this "
                                 "machine's]. Every time shown is in it.")
@click.option("--deadline", help="ISO-8601, e.g. 2026-12-14T23:59 (in the course's time zone), "
                                 "2026-12-14T23:59-05:00, or 2026-12-14 for the end of that day.")
@click.option("--title", default="10-714 homework 1", show_default=True, help="Shown on every page.")
@click.option("--seed", type=int, help="The grading seed [default: a random one, kept secret]. A known seed lets "
                                       "anyone with the grader reproduce the inputs.")
@database_option
@queue_option
@_course_command
def course_init(folder, year, timezone, deadline, title, seed, database, queue):
    """Create a course in FOLDER: its database, its settings and a secret grading seed.

    The folder is made 0700 and every file in it 0600: they hold the course's secrets.
    """
    from . import jobs, store, times
    from .models import Course

    # The settings are checked before anything is made: a wrong zone or deadline leaves no half-made course.
    course = store.new_course(year, title, seed)
    settings.apply_settings(course, {"timezone": timezone or times.machine_zone(),
                                     **({"deadline": deadline} if deadline else {})})
    lines = settings.describe(course)
    location, db = _open(folder, database, queue, create=True)
    try:
        with db.session() as session:
            if session.get(Course, 1) is not None:
                raise ServiceError(f"{folder} already holds a course: grader course set changes its settings")
            session.add(course)
        location.save(folder)
        if store.sqlite_path(location.queue):      # made now, so that it is private from the start
            jobs.Queue(location.queue).close()
        store.make_private(location, folder)
    finally:
        db.close()
    click.echo(f"created the course in {folder} (database {store.redacted(location.database)}, queue "
               f"{store.redacted(location.queue)}), with " + ("a secret grading seed" if seed is None else
                                                               f"the grading seed {seed}"))
    for line in lines:
        click.echo(f"  {line}")
    click.echo(f"next: grader course roster {folder} students.csv --instructor NAME --tokens tokens.csv, then "
               f"grader serve {folder}")


def _setting_options(command):
    for name, (_, meaning) in reversed(settings.SETTINGS.items()):
        command = click.option(f"--{name.replace('_', '-')}", name, help=meaning)(command)
    return command


@course_group.command(name="set")
@click.argument("folder", type=click.Path(file_okay=False))
@_setting_options
@click.option("--new-seed", is_flag=True, help="Draw a new secret grading seed (then regrade).")
@database_option
@queue_option
@_course_command
def course_set(folder, new_seed, database, queue, **changes):
    """Change the course's settings; without options, show them."""
    import secrets

    changes = {name: value for name, value in changes.items() if value is not None}
    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            course = db.course(session)
            year = course.year
            settings.apply_settings(course, changes)
            if course.year != year:     # what each submission's files say against the year changes with it
                from . import uploads

                uploads.refresh_warnings(session, course.year)
            if new_seed:
                course.seed = secrets.randbits(63)
                course.regrade_needed = "a new grading seed was drawn"
            lines = settings.describe(course)
            needed = course.regrade_needed if new_seed or "year" in changes else None
    finally:
        db.close()
    for line in lines:
        click.echo(line)
    if needed:
        click.echo(f"a regrade is needed ({needed}): grader course regrade {folder} grades every counted submission "
                   "again; the gradebook says so until then")


@course_group.command(name="roster")
@click.argument("folder", type=click.Path(file_okay=False))
@click.argument("students_csv", type=click.Path(dir_okay=False), required=False)
@click.option("--instructor", "instructors", multiple=True, help="Add an instructor of this name (repeatable).")
@click.option("--tokens", "tokens_csv", type=click.Path(dir_okay=False),
              help="Append the new people's name,token rows to this CSV (created readable by you alone); it is "
                   "never truncated, and nothing is written when the run fails. Without it they are printed.")
@database_option
@queue_option
@_course_command
def course_roster(folder, students_csv, instructors, tokens_csv, database, queue):
    """Add the students of STUDENTS_CSV and give each new person a token.

    STUDENTS_CSV is a CSV with a name column (email and id optional; any
    case), Canvas's gradebook export as it comes, or one name per line.
    Only people new to the roster get a token: tokens are kept hashed, so
    nobody's token can be shown again (grader course token issues a new one).
    """
    from . import store
    from .models import INSTRUCTOR, STUDENT

    entries = _read_roster(students_csv) if students_csv else []
    tokens = _TokenFile(tokens_csv) if tokens_csv else None
    if tokens:
        tokens.check()
    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            db.course(session)
            issued = store.add_people(session, entries, STUDENT)
            issued += store.add_people(session, [{"name": name} for name in instructors], INSTRUCTOR)
            if tokens and issued:
                session.flush()
                tokens.append(issued)      # before the commit: a token not written is a token lost
    except BaseException:
        if tokens:
            tokens.undo()
        raise
    finally:
        db.close()
    kept = len(entries) + len(instructors) - len(issued)
    kept_words = f"; {kept} already on the roster kept their tokens" if kept else ""
    if tokens:
        added = (f"{len(issued)} added, their tokens appended to {tokens_csv}" if issued
                 else f"nobody new: {tokens_csv} is as it was")
        click.echo(added + kept_words, err=True)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["name", "token"])
    writer.writerows(issued)
    sys.stdout.flush()
    click.echo(f"{len(issued)} added{kept_words}" + ("; these tokens are shown only now (--tokens FILE appends them "
                                                      "to a file)" if issued else ""), err=True)


class _TokenFile:
    """The instructor's tokens.csv: only appended to (never truncated), readable by its owner alone.

    What a run appended is taken back when the run fails, so a failed run
    leaves the file as it was.
    """

    HEADER = ("name", "token")

    def __init__(self, path):
        self.path, self.size, self.created = path, None, False

    def check(self):
        """Refuse a file that is not a tokens file (a roster given by mistake would be appended to)."""
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as handle:
                first = next(csv.reader(handle), None)
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ServiceError(f"{self.path}: cannot be read as a tokens file ({exc})") from None
        if first is not None and tuple(cell.strip().lower() for cell in first) != self.HEADER:
            raise ServiceError(f"{self.path}: not a tokens file (its first line is {','.join(first)!r}, a tokens "
                               "file's is 'name,token'): give --tokens a new file or the one this command wrote")

    def append(self, issued):
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", newline="", encoding="utf-8") as handle:
            self.size = os.fstat(descriptor).st_size
            self.created = self.size == 0
            os.fchmod(descriptor, 0o600)
            writer = csv.writer(handle, lineterminator="\n")
            if self.created:
                writer.writerow(self.HEADER)
            elif not self._ends_a_line():
                handle.write("\n")
            writer.writerows(issued)
            handle.flush()
            os.fsync(descriptor)

    def _ends_a_line(self):
        with open(self.path, "rb") as handle:
            handle.seek(self.size - 1)
            return handle.read(1) == b"\n"

    def undo(self):
        if self.size is None:
            return
        if self.created:
            os.unlink(self.path)
        else:
            os.truncate(self.path, self.size)
        self.size = None


ROSTER_COLUMNS = ("name", "email", "id")
# Canvas's gradebook export: identity columns, then assignments; a "Points Possible" row under the header.
# Its SIS User ID and SIS Login ID are what our Canvas export writes back (gradebook.csv_canvas).
CANVAS_COLUMNS = {"student": "name", "sis user id": "id", "sis login id": "email"}
CANVAS_SKIPPED = ("points possible", "student, test")     # not students: the points row, Canvas's test student


def _read_roster(path):
    """``[{"name", "email", "id"}]`` from a roster file (the formats ``course roster`` takes)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ServiceError(f"{path}: cannot be read as a CSV roster ({exc})") from None
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if "name" in header:
        columns = {index: name for index, name in enumerate(header) if name in ROSTER_COLUMNS}
        entries = [_entry(row, columns) for row in rows[1:]]
    elif "student" in header:
        columns = {index: CANVAS_COLUMNS[name] for index, name in enumerate(header) if name in CANVAS_COLUMNS}
        entries = [_entry(row, columns) for row in rows[1:]]
        entries = [entry for entry in entries if entry["name"].lower() not in CANVAS_SKIPPED]
    elif all(len(row) == 1 for row in rows) and header[0] not in (*ROSTER_COLUMNS, *CANVAS_COLUMNS, "token"):
        entries = [{"name": row[0].strip()} for row in rows]
    else:
        raise ServiceError(f"{path}: its header reads {','.join(rows[0])!r}; a roster is a CSV with a name column "
                           "(email and id optional, any case), Canvas's gradebook export (Student, ID, SIS User ID, "
                           "SIS Login ID, Section, ...), or one name per line with no header")
    entries = [entry for entry in entries if entry["name"]]
    names = [entry["name"] for entry in entries]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ServiceError(f"{path}: {', '.join(twice)} {'is' if len(twice) == 1 else 'are'} on it more than once; "
                           "names must differ (add what tells them apart, such as the id)")
    return entries


def _entry(row, columns):
    entry = {"name": "", "email": "", "id": ""}
    for index, key in columns.items():
        if index < len(row):
            entry[key] = row[index].strip()
    return entry


@course_group.command(name="token")
@click.argument("folder", type=click.Path(file_okay=False))
@click.argument("name")
@click.option("--tokens", "tokens_csv", type=click.Path(dir_okay=False),
              help="Append NAME's new name,token row to this CSV (the roster's --tokens file: a name's last row is "
                   "its token), instead of printing it.")
@database_option
@queue_option
@_course_command
def course_token(folder, name, tokens_csv, database, queue):
    """Issue NAME a new token (their old one stops working) and print it, or append it to --tokens."""
    from . import store

    tokens = _TokenFile(tokens_csv) if tokens_csv else None
    if tokens:
        tokens.check()
    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            token = store.reissue_token(session, name)
            if tokens:
                tokens.append([(name, token)])      # before the commit, as the roster's
    except BaseException:
        if tokens:
            tokens.undo()
        raise
    finally:
        db.close()
    if tokens:
        click.echo(f"{name}'s new token appended to {tokens_csv}: the old one no longer signs in", err=True)
    else:
        click.echo(token)


@course_group.command(name="extend")
@click.argument("folder", type=click.Path(file_okay=False))
@click.argument("name")
@click.option("--until", required=True, help="The student's own deadline: ISO-8601 in the course's time zone unless "
                                             "it has an offset, a date alone for the end of that day, or none to "
                                             "remove it.")
@database_option
@queue_option
@_course_command
def course_extend(folder, name, until, database, queue):
    """Give student NAME an extension until a later deadline."""
    from sqlalchemy import select

    from . import times
    from .models import Person

    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            zone = db.course(session).timezone
            moment = None if until.strip().lower() == "none" else times.parse(until, zone, "--until")
            person = session.scalars(select(Person).where(Person.name == name)).first()
            if person is None:
                raise ServiceError(f"no one named {name!r} on the roster")
            person.extension_until = moment
    finally:
        db.close()
    click.echo(f"{name}: deadline " + (f"{times.words(moment, zone, year=True)} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
                                       if moment else "the course's"))


@course_group.command(name="regrade")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--note", help="Why, in a sentence: each student whose score it changes reads it beside the change.")
@database_option
@queue_option
@_course_command
def course_regrade(folder, note, database, queue):
    """Grade every student's counted submission again, behind students' new submissions."""
    from . import gradebook, jobs

    location, db = _open(folder, database, queue)
    grading_queue = jobs.Queue(location.queue)
    try:
        queued = gradebook.regrade(db, grading_queue, note)
    finally:
        grading_queue.close()
        db.close()
    click.echo(f"{queued} counted submissions queued for regrading")


@course_group.command(name="gradebook")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), required=True, help="Write the gradebook here.")
@click.option("--layout", type=click.Choice(("canvas", "full")), default="canvas", show_default=True,
              help="Canvas's gradebook import, or every column.")
@database_option
@queue_option
@_course_command
def course_gradebook(folder, csv_path, layout, database, queue):
    """Write the gradebook as CSV: each student's counted score."""
    from .. import results
    from . import gradebook

    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            text = gradebook.export(session, db.course(session), layout)
            count = len(gradebook.students(session))
    finally:
        db.close()
    results.write_text_atomic(csv_path, text)
    click.echo(f"gradebook of {count} students written to {csv_path}")


@course_group.command(name="mugrade-publish")
@click.argument("folder", type=click.Path(file_okay=False))
@click.argument("course_tests", type=click.Path(exists=True, file_okay=False))
@database_option
@queue_option
@_course_command
def course_mugrade_publish(folder, course_tests, database, queue):
    """Publish the reference's values for the course's own tests, as a notebook's mugrade publish run does.

    COURSE_TESTS is the course's tests folder (test files with submit_*
    functions), or its repository root holding tests/ and data/. They run on
    this course's year of the reference solution; each problem's values are
    stored for the mugrade protocol (/mugrade/). Every problem whose test
    runs is published; each one that cannot be is named with the whole
    reason (exit code 1).
    """
    import tempfile

    from .. import years
    from . import mugrade

    _, db = _open(folder, database, queue)
    try:
        with db.session() as session:
            year = db.course(session).year
        with tempfile.TemporaryDirectory(prefix="needle-grader-solution-") as solution:
            years.write_handout(solution, with_solutions=True, year=year)
            values, failed = mugrade.run_course_tests(solution, course_tests)
        with db.session() as session:
            for problem, problem_values in values.items():
                mugrade.save_published(session, mugrade.ASSIGNMENT, problem, problem_values)
    finally:
        db.close()
    for problem, problem_values in values.items():
        click.echo(f"published {problem}: {len(problem_values)} values")
    for problem, why in failed.items():
        click.echo(f"not published {problem}: {why}", err=True)
    if failed:
        sys.exit(1)


@click.command(name="serve")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8714, show_default=True)
@click.option("--workers", type=click.IntRange(min=0),
              help="Grading processes on this machine [default: as grader run --jobs; 0 when workers run "
                   "elsewhere (grader worker)].")
@click.option("--https-only", is_flag=True, help="Send the session cookie only over HTTPS (behind a TLS proxy).")
@database_option
@queue_option
@click.option("--no-template", is_flag=True, help="The workers start every grading process afresh (grader worker "
                                                  "--no-template).")
def serve_command(folder, host, port, workers, https_only, database, queue, no_template):
    """Serve the course in FOLDER: the web app, the queue, and WORKERS grading processes.

    It refuses a course whose files others can read; whatever it creates only its user reads.
    """
    _needs_service()
    os.umask(PRIVATE)
    import uvicorn

    from . import store
    from .app import create_app

    store.check_private(store.Location.of_folder(folder, database, queue), folder)   # before anything opens them
    location, db = _open(folder, database, queue)
    _log_to_stderr()
    with db.session() as session:
        title = db.course(session).title
    db.close()
    listening = _listening_socket(host, port)    # before saying "serving": a port in use is one line
    workers = _jobs_default() if workers is None else workers
    app = create_app(location, https_only=https_only)
    grading = _WorkerProcess(location, workers, ["--no-template"] if no_template else []) if workers else None
    click.echo(f"serving {title!r} at http://{host}:{port}/ (database {store.redacted(location.database)}, queue "
               f"{store.redacted(location.queue)}) with {workers} grading process{'es' if workers != 1 else ''}; "
               "Ctrl-C stops")
    try:
        if grading:
            grading.start()
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)).run(
            sockets=[listening])
    except KeyboardInterrupt:   # uvicorn stops on SIGINT and SIGTERM, then raises the signal again
        pass
    finally:
        if grading:
            grading.stop()
    click.echo("stopped: jobs left waiting or unfinished are graded when the course is served again")


def _listening_socket(host, port):
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError as exc:
        hint = " (another grader serve? --port chooses another)" if exc.errno == errno.EADDRINUSE else ""
        raise ServiceError(f"cannot serve at {host}:{port}: {exc.strerror or exc}{hint}")
    return listening


def _log_to_stderr():
    """The web app's log (a failure's traceback under the reference its client was given) on stderr."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("needle-grader")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


class _WorkerProcess(threading.Thread):
    """``grader worker`` beside the web app: restarted if it dies, stopped (jobs given back) with it."""

    def __init__(self, location, processes, options=()):
        super().__init__(daemon=True, name="worker-process")
        self.env = {**os.environ, DATABASE_ENV: location.database, QUEUE_ENV: location.queue}
        self.processes = processes
        self.options = list(options)
        self.stopping = threading.Event()
        self.process = None

    def _start(self):
        from ..kit import confine

        confine.libc()   # loaded in this process: the child between fork and exec, with threads left behind, must not
        #                  load a library (the loader's lock may be held by one of them)

        def prepare():
            # Its own session, so a terminal's Ctrl-C reaches only the server, which stops it gently;
            # it dies with this thread if the server is killed. It grades at a lower CPU priority than the
            # web app, so that pages and polls stay quick on a machine the grading keeps busy.
            os.nice(GRADING_NICENESS)
            confine.die_with_parent(None, signal.SIGTERM)

        return subprocess.Popen([sys.executable, "-m", "grader", "worker", "--jobs", str(self.processes),
                                 *self.options], env=self.env, start_new_session=True, preexec_fn=prepare)

    def run(self):
        self.process = self._start()
        while not self.stopping.wait(1.0):
            if self.process.poll() is not None:
                click.echo(f"grader: the worker exited ({self.process.returncode}); starting another", err=True)
                self.process = self._start()
        self.process.send_signal(signal.SIGTERM)   # Huey's immediate stop: running jobs are given back
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.stopping.set()
        self.join()


@click.command(name="worker")
@click.argument("folder", type=click.Path(file_okay=False), required=False)
@click.option("--database", envvar=DATABASE_ENV, help=f"The course's database URL [env: {DATABASE_ENV}].")
@click.option("--queue", envvar=QUEUE_ENV, help=f"The queue's URL [env: {QUEUE_ENV}].")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Grading processes [default: as grader run --jobs].")
@click.option("--no-template", is_flag=True,
              help="Start every grading process afresh, instead of forking it from a warm template.")
def worker_command(folder, database, queue, jobs, no_template):
    """Grade a course's submissions on this machine: it needs only the database and queue URLs.

    Give the URLs (or FOLDER, a course folder on this machine). The reference
    values of the course's year and secret seed are computed here and cached.
    Stop it with SIGTERM or Ctrl-C: jobs it was grading go back to the queue.
    """
    _needs_service()
    os.umask(PRIVATE)
    from . import worker
    from .store import Location, check_private, database_url

    if folder:
        location = Location.of_folder(folder, database, queue)
        database, queue = location.database, location.queue
    if not database or not queue:
        raise click.UsageError("give the course's --database and --queue URLs (or a course FOLDER)")
    check_private(Location(database_url(database), queue), folder)
    worker.run(database_url(database), queue, jobs or _jobs_default(), echo=lambda text: click.echo(text, err=True),
               template=not no_template)


def register(group):
    from . import client

    for command in (course_group, serve_command, worker_command, client.command):
        group.add_command(command)
