"""Grading children forked from a warm template: the imports paid once per session, the walls per child.

An exec'd child spends most of its start-up starting Python and importing numpy
and pytest. A session that grades more than one submission starts a template
instead (``kit/template.py``): a process exec'd like a child, which imports
what every grading needs and then forks each child on request. The forked
child applies every layer of the sandbox itself before it touches a student's
file; where it cannot stand behind every wall an exec'd child would have, the
session grades by exec and says why (``supervise.probe_forked``).

The template holds no answer key: it is exec'd with a clean environment and
imports only the kit, so a forked child, which inherits its memory, inherits
nothing it could not read anyway. The expected values stay in the grader's
process, which no child shares memory with.

It is replaced when it dies, after ``Limits.template_gradings`` gradings, and
when its resident memory grows past ``Limits.template_memory_bytes``, which
also bounds how far its address space may grow. Children do not depend on it
once forked, so replacing it never disturbs a grading.
"""

import dataclasses
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading

from . import isolation
from .kit.template import MAX_MESSAGE, STATUS, memory_bytes

REPLY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
KILL_GRACE = 2.0
START_ROOM = 128 * 1024 * 1024   # what a grading maps beyond the template's own imports before its first case


class TemplateError(Exception):
    """The template could not be started, or could not fork a child; the message says why."""


@dataclasses.dataclass
class Usage:
    """The part of a child's rusage the grader reads."""

    ru_maxrss: int


class Forked:
    """A child forked by the template, seen from the grader: its pidfd, its pipes and, once it ends, its status."""

    def __init__(self, pid, pidfd, stdout, stderr, status):
        self.pid = pid
        self.pidfd = pidfd
        self.stdout = open(stdout, "rb", buffering=0)
        self.stderr = open(stderr, "rb", buffering=0)
        self.status_fd = status
        self.returncode = None

    def ended(self):
        """Whether its keeper has ended, and with it everything below."""
        return bool(select.select([self.pidfd], [], [], 0)[0])

    def kill(self):
        """Ask the keeper to kill the child's process group, itself with it (SIGKILL if it does not at once)."""
        self._signal(signal.SIGTERM)
        if not select.select([self.pidfd], [], [], KILL_GRACE)[0]:
            self._signal(signal.SIGKILL)

    def _signal(self, number):
        try:
            signal.pidfd_send_signal(self.pidfd, number)
        except ProcessLookupError:
            pass

    def wait4(self):
        """``(wait status, Usage)`` of the grading process, once its keeper has ended.

        The process above it records how it ended; when nothing is recorded,
        the keeper itself was killed (by the grader, or from outside), and the
        grading process with it.
        """
        select.select([self.pidfd], [], [])
        record = b""
        while select.select([self.status_fd], [], [], 0)[0]:
            data = os.read(self.status_fd, STATUS.size)
            if not data:
                break
            record += data
        os.close(self.status_fd)
        if len(record) >= STATUS.size:
            status, maxrss = STATUS.unpack(record[:STATUS.size])
        else:
            status, maxrss = signal.SIGKILL, 0   # a wait status: killed by SIGKILL
        self.returncode = os.waitstatus_to_exitcode(status)
        return status, Usage(maxrss)


class Template:
    """The warm template of one grading session, replaced as it needs to be."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.limits = sandbox.limits
        self._lock = threading.Lock()
        self.process = self.control = None
        self.gradings = 0          # begun on the running template
        self.replaced = []         # why each earlier template was replaced
        self.vsz = 0               # the template's address space, which every forked child starts with
        self._start()

    def _start(self):
        workspace = self.sandbox.workspace
        home = os.path.join(workspace.root, "template")
        os.makedirs(home, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"mode": "template", "sys_path": self.sandbox.sys_path, "control_fd": theirs.fileno(),
                  "grader": os.getpid(), "memory_bytes": self.limits.template_memory_bytes}
        log_path = os.path.join(home, "stderr")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", isolation.BOOTSTRAP, workspace.kit_root,
                 isolation.config_json(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, pass_fds=(theirs.fileno(),),
                env=isolation.child_env(home), cwd=home, start_new_session=True)
        theirs.close()
        ours.settimeout(self.limits.startup_timeout)
        try:
            reply = json.loads(ours.recv(MAX_MESSAGE) or b"{}")
        except (OSError, ValueError) as exc:
            reply = {"error": f"no answer ({exc})"}
        if not reply.get("ready"):
            ours.close()
            _end(process)
            with open(log_path, "rb") as log:
                told = reply.get("error") or log.read()[-2000:].decode(errors="replace") or "it exited"
            raise TemplateError(f"the template did not start: {(told.strip().splitlines() or ['it exited'])[-1]}")
        ours.settimeout(REPLY_TIMEOUT)
        self.process, self.control, self.vsz, self.gradings = process, ours, reply["vsz"], 0

    def unfit(self):
        """Why a grading under these limits is better exec'd, or None.

        A forked child starts with the template's address space, which the
        memory limit must leave room above, as it does above an exec'd child's.
        """
        if self.limits.memory_bytes < self.vsz + START_ROOM:
            return (f"the memory limit of {self.limits.memory_bytes // isolation.MiB} MiB leaves a forked child no "
                    f"room: the template alone maps {self.vsz // isolation.MiB} MiB")
        return None

    def spawn(self, config, env, channel, grading):
        """Fork a child for ``config``: a ``Forked``; ``grading`` says it begins a grading (which counts).

        ``channel`` is the write end of the child's frame pipe. A template that
        fails to answer is replaced, and asked again once.
        """
        with self._lock:
            why = self._worn_out(grading)
            if why:
                self._replace(why)
            try:
                forked = self._spawn(config, env, channel)
            except (OSError, TemplateError, ValueError) as exc:
                self._replace(f"it failed to fork a child ({exc})")
                try:
                    forked = self._spawn(config, env, channel)
                except ValueError as again:    # a garbled answer: what the caller falls back to exec on
                    raise TemplateError(f"the new template's answer could not be read ({again})") from None
            self.gradings += bool(grading)
            return forked

    def _worn_out(self, grading):
        if self.process.poll() is not None:
            code = self.process.returncode
            return f"it died ({f'signal {-code}' if code < 0 else f'exit code {code}'})"
        if grading and self.gradings >= self.limits.template_gradings:
            return f"it had forked {self.gradings} gradings"
        resident = memory_bytes("VmRSS", self.process.pid)
        if resident > self.limits.template_memory_bytes:
            return f"its memory grew to {resident // isolation.MiB} MiB"
        return None

    def _replace(self, why):
        self.replaced.append(why)
        self._stop()
        self._start()

    def _spawn(self, config, env, channel):
        pipes = [os.pipe() for _ in range(3)]   # stdout, stderr, status
        try:
            request = json.dumps({"config": config, "env": env}, separators=(",", ":")).encode()
            socket.send_fds(self.control, [request], [channel, *(write for _, write in pipes)])
            message, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE, 1)
        except BaseException:
            for read, _ in pipes:
                os.close(read)
            raise
        finally:
            for _, write in pipes:
                os.close(write)
        reply = json.loads(message or b"{}")
        if "pid" not in reply or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            for read, _ in pipes:
                os.close(read)
            raise TemplateError(reply.get("error") or "the template closed its socket")
        return Forked(reply["pid"], fds[0], *(read for read, _ in pipes))

    def _stop(self):
        if self.control is not None:
            self.control.close()   # the template exits when its socket closes; its children live on
            self.control = None
        if self.process is not None:
            _end(self.process)

    def close(self):
        with self._lock:
            self._stop()


def _end(process):
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
