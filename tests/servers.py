"""Throwaway PostgreSQL and Redis servers on loopback, from Debian's packages, for the service's tests.

Each starts in a fresh temporary folder on a free port and stops when its
test session ends; where the binaries are missing, the tests that need them
skip and say which package to install. PostgreSQL refuses to run as root, so
as root it runs as the ``postgres`` user that its package creates.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid


class Unavailable(Exception):
    """The server cannot be started here; the message says why."""


def _free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def _wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Unavailable(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def _postgres_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


class Postgres:
    """A PostgreSQL cluster of its own: ``url(database)`` for each database a test creates."""

    def __init__(self):
        self.initdb, self.pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise Unavailable("PostgreSQL is not installed (Debian package postgresql)")
        self.as_user = []
        self.folder = tempfile.mkdtemp(prefix="needle-grader-pg-")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root, and there is no postgres user to run PostgreSQL as") from None
            os.chmod(self.folder, 0o755)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.folder, "data")
        self.port = _free_port()
        self._run(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.resume()

    def resume(self):
        """Start the server (again, after ``pause``)."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-l", os.path.join(self.folder, "log"), "-w",
                  "start")
        _wait_for_port(self.port, None)

    def pause(self):
        """Stop the server as a crash would, keeping its data: every connection to it fails until ``resume``."""
        self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")

    def _run(self, *command):
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise Unavailable(f"{os.path.basename(command[0])} failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def url(self, database="postgres"):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self):
        """A new empty database: its URL."""
        import psycopg

        name = "course_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        try:
            self.pause()
        except Unavailable:
            pass   # paused already
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """A redis-server of its own, keeping nothing on disk."""

    def __init__(self):
        binary = shutil.which("redis-server")
        if not binary:
            raise Unavailable("Redis is not installed (Debian package redis-server)")
        self.binary = binary
        self.folder = tempfile.mkdtemp(prefix="needle-grader-redis-")
        self.port = _free_port()
        self.used = 0
        self.resume()

    def resume(self):
        """Start the server (again, after ``pause``: empty, as it keeps nothing on disk)."""
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", self.folder],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, self.process)

    def pause(self):
        """Stop the server: every connection to it fails until ``resume``."""
        self.process.kill()
        self.process.wait()

    def new_database(self):
        """A URL on an emptied database number (Redis has 16: they are used in turn)."""
        import redis

        self.used += 1
        url = f"redis://127.0.0.1:{self.port}/{self.used % 16}"
        redis.Redis.from_url(url).flushdb()
        return url

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
