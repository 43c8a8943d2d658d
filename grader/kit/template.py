"""The template: a warm process that forks grading children, each as confined as an exec'd one.

The grader (``grader/template.py``) starts it as it starts a child, ``python -I
-B -c <bootstrap> CONFIG`` in mode "template", with a clean environment. It
imports what every grading imports (numpy, pytest and its plugins,
pytest-json-report, the kit) and nothing else: never a student's code, never
an expected value, never the grader itself, so a child forked from it inherits
no secret. Then it answers requests on its control socket, one per child: the
child's config and its pipes (the channel, stdout, stderr, and the status pipe).

Each request forks a keeper, which the grader watches and kills through a pidfd:

- the keeper moves the pipes to fixed numbers, closes every other descriptor,
  and takes the child's environment. With the namespaces of the plan (and a
  PID, IPC and UTS namespace: bubblewrap's, which a forked child cannot exec)
  it forks an init, PID 1 of the new PID namespace, which builds the filesystem
  view and forks the grading process; else it forks the grading process itself;
- the grading process sets its rlimits and drops to the unprivileged uid, then
  continues exactly as an exec'd child does after its confinement
  (``runner.run_confined``): seccomp, the submission, the cases;
- its parent (the init, or the keeper) writes its wait status and peak memory to
  the status pipe, which the grading process never holds, and exits: a death
  of the init tears down the whole PID namespace.

The keeper watches the grader through a pidfd and exits when the grader is gone;
the processes below it die with it (PR_SET_PDEATHSIG). It kills its process
group when it ends, and when the grader stops the child (SIGTERM). The template too exits
when the grader is gone or closes the socket; its children do not need it.
"""

import fcntl
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import traceback

from . import confine, runner

STATUS = struct.Struct("<iq")   # the grading process's wait status, and its peak resident memory in KiB
CHANNEL_FD, STATUS_FD, GRADER_FD = 3, 4, 5
MAX_MESSAGE = 1 << 20
REAP_EVERY = 1.0
KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def serve(config):
    control = socket.socket(fileno=config["control_fd"])
    try:
        grader = os.pidfd_open(config["grader"])
    except ProcessLookupError:
        os._exit(0)
    sys.path[:] = config["sys_path"] + [KIT_ROOT]
    try:
        warm()
    except BaseException:
        control.send(json.dumps({"error": traceback.format_exc()[-2000:]}).encode())
        os._exit(1)
    # What the template holds is never garbage: children's collections skip it, and leave its pages shared.
    gc.freeze()
    vsz = memory_bytes("VmSize")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vsz + config["memory_bytes"], hard))   # it never grows far
    control.send(json.dumps({"ready": True, "vsz": vsz}).encode())
    while True:
        ready, _, _ = select.select([control, grader], [], [], REAP_EVERY)
        _reap()
        if grader in ready:
            break
        if control not in ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 8)
        except OSError:
            break
        if not message:
            break   # the grader closed the socket: retired, or gone
        try:
            pid, pidfd = _spawn(json.loads(message), fds, control, grader)
        except Exception as exc:
            control.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            continue
        finally:
            for fd in fds:
                os.close(fd)
        socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
        os.close(pidfd)
    os._exit(0)


def warm():
    """Import what every grading imports, before any child is forked."""
    runner.import_what_grading_needs()
    confine.libc()
    import numpy

    numpy.random.seed()   # what reseeding a child needs is imported here, once
    from _pytest.config import builtin_plugins

    for name in sorted(builtin_plugins):
        if name != "pytester":   # a plugin for testing pytest itself, which is imported only on request
            importlib.import_module(f"_pytest.{name}")
    import pathlib

    from _pytest.pathlib import import_path

    suites = pathlib.Path(runner.SUITES_DIR)
    for path in sorted(suites.glob("test_*.py")):
        import_path(path, mode="importlib", root=suites, consider_namespace_packages=False)


def memory_bytes(field, pid="self"):
    """A size from ``/proc/PID/status`` (``VmSize``, ``VmRSS``) in bytes; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _spawn(request, fds, control, grader):
    if len(fds) != 4:
        raise ValueError(f"a child needs 4 pipes, not {len(fds)}")
    pid = os.fork()
    if pid == 0:
        try:
            control.detach()   # closed below; its object must never close a reused descriptor
            _keeper(request["config"], request["env"], fds, grader)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(70)
    return pid, os.pidfd_open(pid)


def _arrange(fds, grader):
    """stdin from /dev/null, the pipes at fixed numbers, and no other descriptor of the template's."""
    channel, stdout, stderr, status = fds
    null = os.open(os.devnull, os.O_RDONLY)
    sources = [null, stdout, stderr, channel, status, grader]
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in sources]
    for target, fd in enumerate(moved):
        os.dup2(fd, target)
    os.closerange(len(sources), os.sysconf("SC_OPEN_MAX"))


def _keeper(config, env, fds, grader):
    """Not tied to the template, which may be replaced while its children grade: to the grader only.

    It leads the process group of everything below it, and ends by killing that
    group: on SIGTERM (how the grader stops a child), or once it has recorded
    how the grading process ended. While it lives, no other process can take
    the group's id, as one could from a sweep of a reaped child's group.
    """
    os.setsid()
    signal.signal(signal.SIGTERM, _kill_group)
    _arrange(fds, grader)
    os.environ.clear()
    os.environ.update(env)
    config = dict(config, channel_fd=CHANNEL_FD)
    plan, layers, libc = config["plan"], {}, None
    if plan.get("namespaces"):
        try:
            libc = confine.enter_planned_namespaces(
                plan, layers, confine.CLONE_NEWPID | confine.CLONE_NEWIPC | confine.CLONE_NEWUTS)
        except confine.ConfinementError as exc:
            runner.confined(CHANNEL_FD, layers, str(exc))
        layers["pid_namespace"] = "on"
    keeper = os.getpid()
    child = os.fork()
    if child == 0:
        if libc is not None:
            _init(config, layers, libc)
        _grading(config, layers, parent=keeper)
    _close_outputs()
    _keep(child, on_clean_exit=libc is None)


def _close_outputs():
    """Only the grading process writes to the channel, stdout and stderr: their ends close when it ends."""
    for fd in (0, 1, 2, CHANNEL_FD):
        os.close(fd)


def _keep(child, on_clean_exit):
    """Wait for ``child``, or for the grader to go; record the child's end unless it recorded one itself."""
    pidfd = os.pidfd_open(child)
    while True:
        ready, _, _ = select.select([pidfd, GRADER_FD], [], [])
        if GRADER_FD in ready:
            _kill_group()   # the grader is gone: so is everything it started
        pid, status, usage = os.wait4(child, os.WNOHANG)
        if pid:
            break
    if on_clean_exit or not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        os.write(STATUS_FD, STATUS.pack(status, usage.ru_maxrss))
    _kill_group()


def _kill_group(*_):
    """Whatever the grading left in this keeper's process group, and the keeper itself."""
    os.killpg(0, signal.SIGKILL)


def _init(config, layers, libc):
    """PID 1 of the child's PID namespace: build the view, fork the grading process, record how it ended."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    confine.die_with_parent(None)
    if config["plan"].get("view"):
        try:
            confine.step(layers, "filesystem_view", lambda: confine.build_view(libc, config["plan"]["view"]))
        except confine.ConfinementError as exc:
            runner.confined(CHANNEL_FD, layers, str(exc))
    child = os.fork()
    if child == 0:
        _grading(config, layers, parent=1)
    _close_outputs()
    os.close(GRADER_FD)
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            os.write(STATUS_FD, STATUS.pack(status, usage.ru_maxrss))
            os._exit(0)   # and with PID 1, whatever the grading process left behind


def _grading(config, layers, parent):
    """The grading process: its rlimits and uid, then the rest of an exec'd child's life."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.close(STATUS_FD)
    os.close(GRADER_FD)
    plan = config["plan"]
    try:
        confine.step(layers, "rlimits", lambda: confine.set_rlimits(plan["rlimits"]))
        confine.drop_to_planned_uid(plan, layers)
    except confine.ConfinementError as exc:
        runner.confined(CHANNEL_FD, layers, str(exc))
    confine.die_with_parent(parent)
    os.chdir(plan["cwd"])
    import numpy

    numpy.random.seed()   # numpy's global generator, drawn afresh as an exec'd child's is
    sys.argv = ["-c", KIT_ROOT, json.dumps(config, separators=(",", ":"))]
    runner.run_confined(config, layers)
