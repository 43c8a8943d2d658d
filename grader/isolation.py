"""Where and how a child runs: protections this machine offers, and each child's plan.

At start-up ``detect`` probes the layers by starting a child under the
strongest plan and stepping down until one confines cleanly. Every result
records what was on and off.

Layers, strongest first, and what each buys:
- process + resource limits (always): memory, CPU, file size, open files, no core dumps;
- unprivileged uid (when the grader runs as root): no reading the grader's
  private files, no signalling the grader, ``RLIMIT_NPROC`` applies, and all
  of the uid's processes can be swept after a run;
- a filesystem view and no network, from bubblewrap where it is installed (it
  adds a PID namespace) or else from the child's own mount and network
  namespaces (root, or unprivileged user namespaces): the child sees only the
  interpreter, its libraries, the kit, the data and its scratch folder;
- seccomp: no network sockets, no new processes, no signals to other processes.
"""

import dataclasses
import fcntl
import grp
import importlib.util
import json
import os
import platform
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

KIT_PACKAGE = "needle_grader_kit"
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from needle_grader_kit.runner import main; main()"
# Modules the child imports from site-packages; their folders form its sys.path.
CHILD_DEPENDENCIES = ("numpy", "pytest", "_pytest", "pluggy", "iniconfig", "packaging",
                      "pytest_jsonreport", "pytest_metadata")
LAYER_ORDER = ("process", "rlimits", "uid", "bubblewrap", "namespaces", "filesystem_view", "network_namespace",
               "seccomp")
# Either provides the private filesystem view and network: bubblewrap first (it adds a PID
# namespace, with an init that reaps and tears everything down), else the child's own namespaces.
VIEW_PROVIDERS = ("bubblewrap", "namespaces")
UID_BASE = int(os.environ.get("NEEDLE_GRADER_UID", "61000"))
UID_RANGE = range(UID_BASE, UID_BASE + 2000)
MiB = 1024 * 1024


@dataclasses.dataclass
class Limits:
    case_timeout: float | None = None  # overrides every case's own timeout when set
    default_case_timeout: float = 60.0
    startup_timeout: float = 60.0
    # All cases of one submission together (None: no budget): a submission that hangs
    # must not hold a batch, or a course's worker, for cases x timeout.
    submission_budget: float | None = 120.0
    memory_bytes: int = 3 * 1024 * MiB
    cpu_seconds: int = 1800
    file_size_bytes: int = 64 * MiB
    open_files: int = 256
    processes: int = 64
    max_value_bytes: int = 64 * MiB
    max_run_bytes: int = 512 * MiB
    max_output_bytes: int = 64 * 1024
    max_restarts: int = 25
    # The template children are forked from (grader/template.py): replaced after this many
    # gradings ($NEEDLE_GRADER_TEMPLATE_GRADINGS), or when its resident memory grows past this;
    # nor may it map more than this beyond what it mapped once warm.
    template_gradings: int = dataclasses.field(default_factory=lambda: _template_gradings_from_environment(200))
    template_memory_bytes: int = 256 * MiB

    def rlimits(self, with_processes):
        limits = {"address_space": self.memory_bytes, "cpu": [self.cpu_seconds, self.cpu_seconds + 10],
                  "file_size": self.file_size_bytes, "open_files": self.open_files, "core": 0}
        if with_processes:
            limits["processes"] = self.processes
        return limits


def child_env(home):
    threads = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                      "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "USER": "student", "LOGNAME": "student", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **threads}


def child_sys_path():
    """The interpreter's own paths plus the folders holding the child's dependencies."""
    paths = [p for p in sys.path if p and os.path.isdir(p)
             and os.path.realpath(p).startswith((os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)))]
    for name in CHILD_DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            top = os.path.dirname(spec.origin)
            folder = os.path.dirname(top) if os.path.basename(spec.origin) == "__init__.py" else top
            if folder not in paths:
                paths.append(folder)
    return paths


class Workspace:
    """A private folder per grader process: the kit, the data, and one slot per concurrent child."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="needle-grader-")
        os.chmod(self.root, 0o711)  # an unprivileged child may pass through, never list
        self.kit_root = os.path.join(self.root, "kit")
        kit_source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kit")
        shutil.copytree(kit_source, os.path.join(self.kit_root, KIT_PACKAGE),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        make_world_readable(self.kit_root)
        self._uids = {}  # slot -> (uid, lock fd)
        self._claiming = threading.Lock()  # jobs of a batch start children in their own slots at once
        self.data_dir = os.path.join(self.root, "data")
        os.makedirs(self.data_dir)
        os.chmod(self.data_dir, 0o755)

    def uid(self, slot):
        """The uid this grader's children in ``slot`` run under (claimed on first use)."""
        with self._claiming:
            if slot not in self._uids:
                self._uids[slot] = claim_uid()
            return self._uids[slot][0]

    def slot(self, index, owner_uid):
        """Fresh, empty scratch and view-root folders for one child."""
        base = os.path.join(self.root, f"slot-{index}")
        shutil.rmtree(base, ignore_errors=True)
        scratch, view_root = os.path.join(base, "scratch"), os.path.join(base, "root")
        os.makedirs(scratch)
        os.makedirs(view_root)
        os.chmod(base, 0o711)
        if owner_uid is not None:
            os.chown(scratch, owner_uid, owner_uid)
        os.chmod(scratch, 0o700)
        return scratch, view_root

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)
        for _, lock in self._uids.values():
            os.close(lock)
        self._uids.clear()


def make_world_readable(top):
    """Folders 0755 and files 0644 below ``top``: readable, never writable, by the child's uid."""
    os.chmod(top, 0o755)
    for folder, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def claim_uid():
    """An unprivileged uid for this grader's children alone, and the lock that holds it.

    Every process of the uid is swept after each child, so two graders on one
    machine must never share one: each claims a free uid (no account, no live
    process, no other grader's lock) at random in ``UID_RANGE`` and keeps an
    exclusive lock on it until it exits, however it exits.
    """
    folder = os.path.join("/run" if os.access("/run", os.W_OK) else tempfile.gettempdir(), "needle-grader-uids")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.path.islink(folder) or os.stat(folder).st_uid != os.geteuid():
        raise SandboxError(f"{folder} is not a folder of this user's: refusing to keep uid locks there")
    candidates = list(UID_RANGE)
    random.shuffle(candidates)
    for uid in candidates:
        if _uid_taken(uid):
            continue
        lock = os.open(os.path.join(folder, str(uid)), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            continue
        if processes_of({uid}):
            os.close(lock)
            continue
        return uid, lock
    raise SandboxError(f"no free uid left in {UID_RANGE.start}-{UID_RANGE.stop - 1}")


def _uid_taken(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(uid)
        return True
    except KeyError:
        return False


@dataclasses.dataclass
class Sandbox:
    """The layers this machine offers (``layers``: name -> "on" or "off: why")."""

    layers: dict
    workspace: Workspace
    limits: Limits
    sys_path: list
    hidden: list   # folders the child's view must not show, though they lie under paths it sees

    def on(self, layer):
        return self.layers.get(layer) == "on"

    def plan(self, scratch, view_root, uid, read_only_extra=(), forked=False):
        """``(plan, wrapper)`` of one child: what it applies to itself, and the command it runs under.

        ``read_only_extra`` are folders it must read (the staged submission).
        A ``forked`` child (from the template) cannot exec bubblewrap: it makes
        the same namespaces itself (``kit/template.py``), a PID namespace too.
        """
        plan = {"rlimits": self.limits.rlimits(with_processes=self.on("uid")), "cwd": scratch,
                "seccomp": self.on("seccomp"), "parent": os.getpid()}
        if self.on("uid"):
            plan.update(uid=uid, gid=uid)
        wrapper = []
        view = None
        if self.on("filesystem_view"):
            view = filesystem_view(view_root, self.sys_path,
                                   [self.workspace.kit_root, self.workspace.data_dir, *read_only_extra], [scratch],
                                   self.hidden)
        if forked:
            if self.provides_view():
                plan.update(namespaces=True, network_namespace=self.on("network_namespace"), view=view)
        elif self.on("bubblewrap"):
            wrapper = bwrap_command(view, keep_setuid=self.on("uid"))
            plan["parent"] = None  # its parent is bubblewrap's init, which dies with the grader
        elif self.on("namespaces"):
            plan.update(namespaces=True, network_namespace=self.on("network_namespace"), view=view)
        return plan, wrapper

    def provides_view(self):
        return any(self.on(provider) for provider in VIEW_PROVIDERS)

    def forked_layers(self):
        """The layers a child forked from the template must report on to stand behind the same walls."""
        layers = ["rlimits"]
        if self.provides_view():
            layers += ["namespaces", "pid_namespace", *(name for name in ("network_namespace", "filesystem_view")
                                                         if self.on(name))]
        return layers + [name for name in ("uid", "seccomp") if self.on(name)]

    def why_not_forked(self):
        """Why children cannot be forked from a template here, or None (the probe has the last word)."""
        if platform.system() != "Linux" or not all(
                hasattr(module, name) for module, name in ((os, "pidfd_open"), (signal, "pidfd_send_signal"),
                                                           (socket, "send_fds"))):
            return "forking confined children needs Linux's pidfds (Linux 5.3, Python 3.9)"
        if self.on("bubblewrap") and self.layers.get("namespaces") == "off: disabled":
            return ("bubblewrap needs a fresh exec, and the namespaces that give a forked child the same walls "
                    "are disabled")
        return None

    def summary(self):
        """Every layer's state, and the protections that were off.

        A view provider that was not needed (bubblewrap absent while the child's own
        namespaces gave the view, or the reverse) is not a protection missing.
        """
        provided = self.provides_view()
        return {"layers": dict(self.layers),
                "off": [name for name in LAYER_ORDER
                        if not self.on(name) and not (provided and name in VIEW_PROVIDERS)]}


def filesystem_view(view_root, sys_path, read_only, writable, hidden):
    system = [p for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc") if os.path.exists(p)]
    symlinks = {p: os.readlink(p) for p in system if os.path.islink(p)}
    python = {sys.base_prefix, sys.prefix, *sys_path}
    return {
        "root": view_root,
        "read_only": sorted({p for p in system if p not in symlinks} | python | set(read_only)),
        "writable": list(writable),
        "hidden": list(hidden),
        "symlinks": symlinks,
        "tmp_size": 64 * MiB,
    }


def bwrap_command(view, keep_setuid):
    """The bubblewrap command line giving the child ``view`` (see ``filesystem_view``).

    Run by root, bubblewrap drops every capability; the child keeps just the two
    it needs to change to its unprivileged uid, which it does at once.
    """
    # /tmp as the child's own namespaces make it (``confine.build_view``): private, small, writable by anyone
    command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session", "--dev", "/dev", "--proc", "/proc",
               "--perms", "1777", "--size", str(view["tmp_size"]), "--tmpfs", "/tmp"]
    if keep_setuid:
        # no user namespace, which would map no uid but root's
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user-try"]
    for link, destination in view["symlinks"].items():
        command += ["--symlink", destination, link]
    bound = [p for p in [*view["read_only"], *view["writable"]] if os.path.exists(p)]
    # bubblewrap makes missing parents of a mount point 0700: make them passable for the child's uid
    parents = {os.path.dirname(p) for p in bound}
    while any(os.path.dirname(p) not in parents and p != "/" for p in parents):
        parents |= {os.path.dirname(p) for p in parents}
    for parent in sorted(parents - {"/"}, key=lambda p: p.count("/")):
        if not any(parent == b or parent.startswith(b.rstrip("/") + "/") for b in bound):
            command += ["--perms", "0755", "--dir", parent]
    for path in sorted(view["read_only"], key=lambda p: p.count("/")):
        if os.path.exists(path):
            command += ["--ro-bind", path, path]
    for path in view["writable"]:
        command += ["--bind", path, path]
    for path in view["hidden"]:
        if any(path.startswith(bound.rstrip("/") + "/") for bound in view["read_only"]) and os.path.isdir(path):
            command += ["--tmpfs", path, "--remount-ro", path]
    # The child moves into its scratch folder itself, once it has its own uid: without
    # capabilities, bubblewrap's root may not enter a folder that uid owns.
    return command + ["--chdir", "/", "--"]


def detect(workspace, limits, probe, hidden=(), disabled=()):
    """Probe the layers, strongest plan first, and keep what confines cleanly.

    ``probe(sandbox)`` starts a child under the sandbox's plan and returns
    None, or the layer that failed and why. ``hidden`` are folders the child
    must not see (the grader, the reference solution and its values).
    ``disabled`` names layers to leave off on purpose (the benchmark measures
    the cost of isolation that way).
    """
    sys_path = child_sys_path()
    layers = {name: "off: disabled" if name in disabled else "on" for name in LAYER_ORDER}
    if os.geteuid() != 0:
        layers["uid"] = "off: the grader is not running as root"
    if platform.system() != "Linux":
        for name in ("bubblewrap", "namespaces", "filesystem_view", "network_namespace", "seccomp"):
            layers[name] = f"off: not available on {platform.system()}"
    if layers["bubblewrap"] == "on" and not shutil.which("bwrap"):
        layers["bubblewrap"] = "off: not installed (Debian package bubblewrap)"
    while True:
        if layers["bubblewrap"] == "on" and layers["namespaces"] == "on":
            layers["namespaces"] = "off: bubblewrap provides them"
        elif layers["bubblewrap"] != "on" and layers["namespaces"] == "off: bubblewrap provides them":
            layers["namespaces"] = "on"
        for name in ("filesystem_view", "network_namespace"):
            if layers[name] == "on" and not any(layers[p] == "on" for p in VIEW_PROVIDERS):
                layers[name] = "off: needs namespaces"
        sandbox = Sandbox(layers, workspace, limits, sys_path, list(hidden))
        failed = probe(sandbox)
        if not failed:
            return sandbox
        layer, reason = failed
        if layer == "process" or not sandbox.on(layer):
            # Nothing left to step down from: the bare process is all there is.
            raise SandboxError(f"cannot start a grading process: {reason}")
        layers[layer] = f"off: {reason}"


class SandboxError(Exception):
    """The grader could not start a confined child at all."""


def _template_gradings_from_environment(default):
    text = os.environ.get("NEEDLE_GRADER_TEMPLATE_GRADINGS", "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise SandboxError(f"$NEEDLE_GRADER_TEMPLATE_GRADINGS is {text!r}: it must be a whole number of gradings, "
                           "at least 1")
    return int(text)


def sweep(uid, process_group):
    """Kill whatever the run left behind: every process of its uid, or else its process group."""
    if uid is not None and os.geteuid() == 0:
        for _ in range(5):
            subprocess.run(["kill", "-s", "KILL", "--", "-1"], user=uid, group=uid, extra_groups=[],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if not processes_of({uid}):
                return
            time.sleep(0.01)
        return
    try:
        os.killpg(process_group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def processes_of(uids):
    """Pids of the live processes (zombies are already dead) whose uid is in ``uids``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
            except OSError:
                continue
            if int(fields.get("Uid", "-1 ").split()[0]) in uids and not fields.get("State", "").strip().startswith("Z"):
                found.append(int(entry))
    return found


def doctor_lines(sandbox):
    """Human-readable lines of what this machine offers, for ``grader doctor``."""
    lines = []
    for name in LAYER_ORDER:
        lines.append(f"{name:18} {sandbox.layers.get(name, 'on')}")
    return lines


def config_json(config):
    return json.dumps(config, separators=(",", ":"))
