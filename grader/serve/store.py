"""Where a course lives: its folder, its database and queue URLs, its schema, its settings.

A course's folder holds ``course.json``, which names the database and the
queue. By default both are SQLite files in the folder (``course.db``,
``queue.db``): one machine, no other service. A course on several machines
names a PostgreSQL database (``postgresql://...``) and a Redis or PostgreSQL
queue instead; a worker elsewhere then needs only the two URLs. Only the
folder's owner may read its files: they hold the session secret, the secret
seed, token hashes and every archive (``make_private``, ``check_private``).

The schema is Alembic's to create and migrate (``migrations/``), on SQLite
and PostgreSQL alike. SQLite serves one writer at a time: every writing transaction
takes the write lock when it begins (``BEGIN IMMEDIATE``), waiting up to
``SQLITE_BUSY_SECONDS``, so two requests can never both read a limit and
then both write past it. What only reads (every page, every poll) runs in a
read-only transaction instead (``reading()``): in SQLite's WAL mode it takes
no lock, so it never waits for a writer nor makes one wait, and a write
attempted in it fails at once rather than queueing behind the lock.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import secrets
import shlex

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from . import ServiceError
from .models import STUDENT, Course, Person

COURSE_FILE = "course.json"
MIGRATIONS = pathlib.Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_SECONDS = 30
# The web app holds a read connection for at most 20 requests at once (dependencies.READ_SLOTS) and opens
# others within one of its 40 threads (anyio's): a write, an error page. The pools exceed what requests holding
# one may ask for besides, so no set of them waits for each other. SQLite connections are cheap; a database
# server's are counted (PostgreSQL allows 100 by default), and there its reads and writes share one pool.
SQLITE_POOL = {"pool_size": 10, "max_overflow": 60}
SERVER_POOL = {"pool_size": 10, "max_overflow": 20}
DEFAULT_MAX_ARCHIVE_BYTES = 5 * 1024 * 1024
DEFAULT_BUDGET_SECONDS = 120


def database_url(url):
    """SQLAlchemy's URL for what a user wrote: a path (SQLite), ``sqlite:///...`` or ``postgresql://...``."""
    if "://" not in url:
        return f"sqlite:///{os.path.abspath(url)}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redacted(url):
    """A URL fit to print: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@dataclasses.dataclass(frozen=True)
class Location:
    """The two URLs a course runs on."""

    database: str
    queue: str

    @classmethod
    def of_folder(cls, folder, database=None, queue=None):
        """The course in ``folder``: what its course.json names, unless given here."""
        folder = pathlib.Path(folder)
        saved = {}
        try:
            saved = json.loads((folder / COURSE_FILE).read_text())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            raise ServiceError(f"{folder / COURSE_FILE}: cannot be read ({exc})") from None
        database = database or saved.get("database") or f"sqlite:///{(folder / 'course.db').resolve()}"
        queue = queue or saved.get("queue") or f"sqlite:///{(folder / 'queue.db').resolve()}"
        return cls(database_url(database), queue)

    def save(self, folder):
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / COURSE_FILE     # it may hold database passwords: only its owner reads it
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(json.dumps({"database": self.database, "queue": self.queue}, indent=1) + "\n")
        os.chmod(path, 0o600)


SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def sqlite_path(url):
    """The file of a ``sqlite:///FILE`` URL, or None for any other."""
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else None


def course_files(location, folder=None):
    """The files holding a course's secrets on this machine: course.json, and its SQLite databases with their
    -wal, -shm and -journal files (the session secret, the seed, token hashes, every archive)."""
    paths = [os.path.join(folder, COURSE_FILE)] if folder else []
    for url in (location.database, location.queue):
        path = sqlite_path(url)
        if path:
            paths.extend(path + suffix for suffix in SQLITE_SIDE_FILES)
    return [path for path in dict.fromkeys(paths) if os.path.exists(path)]


def exposed_files(location, folder=None):
    """The course's files (``course_files``) that a user other than their owner may read or write."""
    return [path for path in course_files(location, folder) if os.stat(path).st_mode & 0o077]


def check_private(location, folder=None):
    """Refuse, in one line with its fix, a course whose files others on this machine can read."""
    exposed = exposed_files(location, folder)
    if exposed:
        where = folder or os.path.dirname(exposed[0])
        raise ServiceError(f"{', '.join(exposed)}: open to other users of this machine, yet they hold the "
                           f"course's secrets (its session secret, grading seed, token hashes and every archive): run "
                           f"chmod -R go= {shlex.quote(str(where))} and start again")


def make_private(location, folder=None):
    """Only the owner may enter the course's folder and read its files (0700 and 0600)."""
    if folder:
        os.chmod(folder, 0o700)
    for path in course_files(location, folder):
        os.chmod(path, 0o600)


class Database:
    """An engine and sessions on one course's database."""

    def __init__(self, url):
        self.url = database_url(url)
        try:
            if self.url.startswith("sqlite"):
                self.engine = create_engine(self.url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, **SQLITE_POOL)
                event.listen(self.engine, "connect", _sqlite_connect)
                event.listen(self.engine, "begin", _sqlite_begin)
                self.read_engine = create_engine(self.url, connect_args={"timeout": SQLITE_BUSY_SECONDS},
                                                 **SQLITE_POOL)
                event.listen(self.read_engine, "connect", _sqlite_connect_read_only)
                event.listen(self.read_engine, "begin", _sqlite_begin_deferred)
            else:
                self.engine = create_engine(self.url, pool_pre_ping=True, **SERVER_POOL)
                self.read_engine = self.engine.execution_options(postgresql_readonly=True)
        except (ArgumentError, ImportError) as exc:
            raise ServiceError(f"{redacted(self.url)}: not a database URL this service can use ({exc})") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self):
        """One writing transaction: committed when the block ends, rolled back if it raises."""
        with self._translated(), self.sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def reading(self):
        """One read-only transaction, which never waits for a writer; it writes nothing."""
        with self._translated(), self.readers() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _translated(self):
        try:
            yield
        except OperationalError as exc:
            raise ServiceError(f"the course database {redacted(self.url)} cannot be used: "
                               f"{str(exc.orig).strip().splitlines()[0]}") from None

    def upgrade(self):
        """Create or migrate the schema to the newest revision."""
        from alembic import command

        try:
            with self.engine.begin() as connection:
                command.upgrade(_alembic_config(connection), "head")
        except SQLAlchemyError as exc:
            raise ServiceError(f"the course database {redacted(self.url)} cannot be used: "
                               f"{str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}") from None

    def revision(self):
        from alembic.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self):
        """Refuse, in one line, a database that is not a course's or is older than this grader."""
        from alembic.script import ScriptDirectory

        try:
            current = self.revision()
        except SQLAlchemyError as exc:
            raise ServiceError(f"{redacted(self.url)}: cannot be opened ({str(exc).splitlines()[0]})") from None
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        if current is None:
            raise ServiceError(f"{redacted(self.url)}: no course here (grader course init creates one)")
        if current != head:
            raise ServiceError(f"{redacted(self.url)}: the course's database is at revision {current}, this grader "
                               f"needs {head}: run any grader course command on it to migrate")

    def course(self, session):
        course = session.scalars(select(Course)).first()
        if course is None:
            raise ServiceError(f"{redacted(self.url)}: no course here (grader course init creates one)")
        return course

    def close(self):
        self.engine.dispose()
        if self.url.startswith("sqlite"):
            self.read_engine.dispose()


def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _sqlite_connect(dbapi_connection, _record):
    dbapi_connection.isolation_level = None   # transactions are begun by _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection):
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_connect_read_only(dbapi_connection, record):
    _sqlite_connect(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA query_only=ON")


def _sqlite_begin_deferred(connection):
    connection.exec_driver_sql("BEGIN")


def new_course(year, title, seed=None):
    return Course(id=1, title=title, year=year, seed=secrets.randbits(63) if seed is None else seed,
                  late_policy="accept", penalty_per_day=0.0, counts="last", cooloff_seconds=60,
                  daily_limit=None, max_archive_bytes=DEFAULT_MAX_ARCHIVE_BYTES, lease_seconds=60,
                  budget_seconds=DEFAULT_BUDGET_SECONDS, session_secret=secrets.token_hex(32))


def issue_token():
    """A new sign-in token: shown once, kept only as its hash."""
    return "ng-" + secrets.token_urlsafe(24)


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def add_people(session, entries, role=STUDENT):
    """Add each ``{"name", "email", "id"}`` not on the roster yet; ``[(name, token)]`` of those added.

    People already on the roster keep their tokens (which only they have).
    """
    known = set(session.scalars(select(Person.name)).all())
    issued = []
    for entry in entries:
        name = (entry.get("name") or "").strip()
        if not name or name in known:
            continue
        token = issue_token()
        session.add(Person(name=name, email=(entry.get("email") or "").strip() or None,
                           external_id=(entry.get("id") or "").strip() or None, role=role,
                           token_hash=hash_token(token)))
        known.add(name)
        issued.append((name, token))
    return issued


def reissue_token(session, name):
    """A new token for someone on the roster (a lost one stops working)."""
    person = session.scalars(select(Person).where(Person.name == name)).first()
    if person is None:
        raise ServiceError(f"no one named {name!r} on the roster")
    token = issue_token()
    person.token_hash = hash_token(token)
    return token
