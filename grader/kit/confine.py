"""Confinement the child applies to itself before any student code runs.

The grader (``grader.isolation``) decides the plan; this module carries it
out inside the freshly started child, in this order: resource limits, a
private mount and network namespace with a minimal view of the filesystem,
an unprivileged uid, and - once the modules the suites need are imported - a
seccomp filter. Each step reports whether it took effect, so the grader can
record which protections were on.

Linux specifics go through ctypes; elsewhere those steps report themselves
unavailable. Standard library only.
"""

import ctypes
import ctypes.util
import errno
import functools
import os
import platform
import resource
import signal
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
AF_UNIX = 1

RLIMITS = {
    "address_space": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "file_size": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "processes": getattr(resource, "RLIMIT_NPROC", None),
}


class ConfinementError(Exception):
    """A layer of the plan could not be applied."""


@functools.lru_cache(maxsize=None)
def libc():
    """The C library (looked up once: ``find_library`` runs ldconfig in a new process)."""
    loaded = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    loaded.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return loaded


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise ConfinementError(f"{what}: {os.strerror(code)}")


def set_rlimits(limits):
    for name, value in limits.items():
        which = RLIMITS.get(name)
        if which is None:
            continue
        soft, hard = value if isinstance(value, (list, tuple)) else (value, value)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError) as exc:
            raise ConfinementError(f"rlimit {name}={value}: {exc}") from None


def enter_namespaces(unshare_net, as_root, more=0):
    """A private mount namespace (and network namespace when asked, and the ``more`` CLONE_* flags).

    Without root, a user namespace makes the same possible where the kernel
    allows unprivileged user namespaces.
    """
    c = libc()
    flags = CLONE_NEWNS | (CLONE_NEWNET if unshare_net else 0) | more
    if not as_root:
        uid, gid = os.getuid(), os.getgid()
        _check(c.unshare(flags | CLONE_NEWUSER), "unshare(user, mount)")
        for path, text in (("/proc/self/setgroups", "deny"),
                           ("/proc/self/uid_map", f"{uid} {uid} 1"),
                           ("/proc/self/gid_map", f"{gid} {gid} 1")):
            with open(path, "w") as handle:
                handle.write(text)
    else:
        _check(c.unshare(flags), "unshare(mount, net)")
    _check(c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    return c


def _mkdirs_like(path, new_root):
    target = new_root + path
    os.makedirs(target if os.path.isdir(path) else os.path.dirname(target), exist_ok=True)
    if not os.path.isdir(path) and not os.path.exists(target):
        open(target, "w").close()
    return target


def _bind(libc, source, target, read_only):
    _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"bind {source}")
    if read_only:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
        _check(libc.mount(None, target.encode(), None, flags, None), f"read-only {source}")


def build_view(libc, view):
    """Switch to a new root holding only the paths the plan names.

    ``view`` has ``root`` (an empty directory), ``read_only`` and ``writable``
    (paths bound at the same place inside), ``hidden`` (paths covered by an
    empty read-only tmpfs) and ``symlinks`` (top-level links such as /bin).
    The folders it makes on the way to a bound path are 0755 whatever the
    grader's umask (a course's worker keeps 077): the unprivileged uid passes.
    """
    previous = os.umask(0o022)
    try:
        _build_view(libc, view)
    finally:
        os.umask(previous)


def _build_view(libc, view):
    root = view["root"]
    _check(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m"), "tmpfs root")
    tmp = root + "/tmp"
    os.makedirs(tmp)
    _check(libc.mount(b"tmpfs", tmp.encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                      f"mode=1777,size={view['tmp_size']}".encode()), "tmpfs /tmp")
    for link, destination in view["symlinks"].items():
        os.symlink(destination, root + link)
    mounts = [(p, True) for p in view["read_only"]] + [(p, False) for p in view["writable"]]
    for path, read_only in sorted(mounts, key=lambda item: item[0].count("/")):
        if os.path.exists(path):
            _bind(libc, path, _mkdirs_like(path, root), read_only)
    for path in view["hidden"]:
        if os.path.isdir(root + path):
            _check(libc.mount(b"tmpfs", (root + path).encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                              b"size=4k"), f"hide {path}")
    for device in ("null", "zero", "random", "urandom"):
        _bind(libc, "/dev/" + device, _mkdirs_like("/dev/" + device, root), False)
    os.makedirs(root + "/proc", exist_ok=True)
    if libc.mount(b"proc", (root + "/proc").encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2") != 0:
        _bind(libc, "/proc", root + "/proc", True)
    os.chroot(root)
    os.chdir("/")


def drop_privileges(uid, gid):
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise ConfinementError("the uid did not change")


# --- seccomp ---------------------------------------------------------------

_ARCH = {
    # audit arch, then the syscall numbers this filter cares about
    "x86_64": (0xC000003E, dict(socket=41, socketpair=53, fork=57, vfork=58, execve=59, execveat=322,
                                clone=56, clone3=435, kill=62, tkill=200, tgkill=234, ptrace=101,
                                unshare=272, setns=308, mount=165, io_uring_setup=425,
                                io_uring_enter=426, io_uring_register=427, seccomp=317)),
    "aarch64": (0xC00000B7, dict(socket=198, socketpair=199, execve=221, execveat=281, clone=220,
                                 clone3=435, kill=129, tkill=130, tgkill=131, ptrace=117, unshare=97,
                                 setns=268, mount=40, io_uring_setup=425, io_uring_enter=426,
                                 io_uring_register=427, seccomp=277)),
}
_LD_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _KILL_PROCESS = 0x7FFF0000, 0x80000000
_NR, _ARCH_OFFSET, _ARG0 = 0, 4, 16


def _errno(code):
    return 0x00050000 | code


def seccomp_program(pid, machine=None):
    """A classic-BPF filter: no network sockets, no new processes, no signals to others.

    Threads (clone with CLONE_THREAD) stay allowed, so numpy keeps working;
    clone3 answers ENOSYS so the C library falls back to clone, which the
    filter can inspect.
    """
    machine = machine or platform.machine()
    if machine not in _ARCH:
        raise ConfinementError(f"no seccomp filter for {machine}")
    audit_arch, nr = _ARCH[machine]
    prog = [(_LD_ABS, 0, 0, _ARCH_OFFSET), (_JEQ, 1, 0, audit_arch), (_RET, 0, 0, _KILL_PROCESS),
            (_LD_ABS, 0, 0, _NR)]
    if machine == "x86_64":  # the x32 ABI would otherwise bypass every rule below
        prog += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _errno(errno.EPERM))]

    def deny(name, code=errno.EPERM):
        if name in nr:
            prog.extend([(_JEQ, 0, 1, nr[name]), (_RET, 0, 0, _errno(code))])

    def allow_if(name, test, value, code):
        # nr == name ? (arg0 passes test ? allow : errno) : the next rule, accumulator still nr
        if name in nr:
            prog.extend([(_JEQ, 0, 4, nr[name]), (_LD_ABS, 0, 0, _ARG0), (test, 0, 1, value),
                         (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _errno(code))])

    allow_if("socket", _JEQ, AF_UNIX, errno.EACCES)
    allow_if("socketpair", _JEQ, AF_UNIX, errno.EACCES)
    allow_if("clone", _JSET, CLONE_THREAD, errno.EPERM)
    for name in ("kill", "tgkill"):
        allow_if(name, _JEQ, pid, errno.EPERM)
    deny("clone3", errno.ENOSYS)
    for name in ("fork", "vfork", "execve", "execveat", "tkill", "ptrace", "unshare", "setns", "mount",
                 "io_uring_setup", "io_uring_enter", "io_uring_register"):
        deny(name)
    prog.append((_RET, 0, 0, _ALLOW))
    return prog


def load_seccomp(pid):
    """Install the filter on every thread of this process."""
    prog = seccomp_program(pid)
    raw = b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in prog)
    buffer = ctypes.create_string_buffer(raw)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.addressof(buffer))
    c = libc()
    _check(c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    seccomp_nr = _ARCH[platform.machine()][1]["seccomp"]
    set_mode_filter, flag_tsync = 1, 1
    _check(c.syscall(seccomp_nr, set_mode_filter, flag_tsync, ctypes.byref(fprog)), "seccomp")


def apply(plan, report):
    """Apply the pre-import layers of ``plan``; record each outcome in ``report``.

    A layer that fails raises ``ConfinementError`` after recording it: the
    grader then retries without it, so no child runs half-confined by surprise.
    """
    step(report, "rlimits", lambda: set_rlimits(plan["rlimits"]))
    if plan.get("namespaces"):
        handle = enter_planned_namespaces(plan, report)
        if plan.get("view"):
            step(report, "filesystem_view", lambda: build_view(handle, plan["view"]))
    drop_to_planned_uid(plan, report)
    die_with_parent(plan["parent"])
    os.chdir(plan["cwd"])


def step(report, name, action):
    """Run one layer's ``action`` and record whether it took effect; ``ConfinementError`` if not."""
    try:
        result = action()
    except (ConfinementError, OSError) as exc:
        report[name] = f"failed: {exc}"
        raise ConfinementError(f"{name}: {exc}") from None
    report[name] = "on"
    return result


def enter_planned_namespaces(plan, report, more=0):
    """The plan's namespaces (and the ``more`` CLONE_* flags); the libc handle that builds the view."""
    handle = step(report, "namespaces",
                  lambda: enter_namespaces(plan.get("network_namespace", False), os.geteuid() == 0, more))
    if plan.get("network_namespace"):
        report["network_namespace"] = "on"
    return handle


def drop_to_planned_uid(plan, report):
    if plan.get("uid") is not None:
        step(report, "uid", lambda: drop_privileges(plan["uid"], plan["gid"]))


def die_with_parent(parent, signum=signal.SIGKILL):
    """Be killed (by ``signum``) when the grader dies, so a grader killed mid-batch leaves no child running.

    Set after the uid changes, which would clear it; a grader already gone
    before that is caught by comparing the parent's pid (``None`` under
    bubblewrap, whose init is the parent and dies with the grader).
    """
    if platform.system() == "Linux":
        libc().prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(71)
