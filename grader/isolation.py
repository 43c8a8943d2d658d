"""Where and how a child runs: protections this machine offers, and each child's plan.

At start-up ``detect`` probes the layers (resource limits, a private mount
and network namespace with a minimal filesystem view, an unprivileged uid,
seccomp) by starting a child under the strongest plan and stepping down
until one confines cleanly. Every result records what was on and off.

Layers, strongest first, and what each buys:
- process + resource limits (always): memory, CPU, file size, open files, no core dumps;
- unprivileged uid (when the grader runs as root): no reading the grader's
  private files, no signalling the grader, ``RLIMIT_NPROC`` applies, and all
  of the uid's processes can be swept after a run;
- namespaces + filesystem view (root, or unprivileged user namespaces): the
  child sees only the interpreter, its libraries, the kit, the data and its
  scratch folder; no network at all;
- seccomp: no network sockets, no new processes, no signals to other processes.
"""

import dataclasses
import grp
import importlib.util
import json
import os
import platform
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

KIT_PACKAGE = "needle_grader_kit"
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from needle_grader_kit.runner import main; main()"
# Modules the child imports from site-packages; their folders form its sys.path.
CHILD_DEPENDENCIES = ("numpy", "pytest", "_pytest", "pluggy", "iniconfig", "packaging",
                      "pytest_jsonreport", "pytest_metadata", "numdifftools", "scipy")
LAYER_ORDER = ("process", "rlimits", "uid", "namespaces", "filesystem_view", "network_namespace", "seccomp")
UID_BASE = int(os.environ.get("NEEDLE_GRADER_UID", "61000"))
MiB = 1024 * 1024


@dataclasses.dataclass
class Limits:
    case_timeout: float | None = None  # overrides every case's own timeout when set
    default_case_timeout: float = 60.0
    startup_timeout: float = 60.0
    memory_bytes: int = 3 * 1024 * MiB
    cpu_seconds: int = 1800
    file_size_bytes: int = 64 * MiB
    open_files: int = 256
    processes: int = 64
    max_value_bytes: int = 64 * MiB
    max_run_bytes: int = 512 * MiB
    max_output_bytes: int = 64 * 1024
    max_restarts: int = 25

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


def _own_package_dirs():
    import grader
    import needle

    from . import reference
    return [os.path.dirname(os.path.abspath(grader.__file__)), os.path.dirname(os.path.abspath(needle.__file__)),
            str(reference.REFERENCE_DIR), str(reference.cache_root())]


class Workspace:
    """A private folder per grader process: the kit, the data, and one slot per concurrent child."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="needle-grader-")
        os.chmod(self.root, 0o711)  # an unprivileged child may pass through, never list
        self.kit_root = os.path.join(self.root, "kit")
        kit_source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kit")
        shutil.copytree(kit_source, os.path.join(self.kit_root, KIT_PACKAGE),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _make_world_readable(self.kit_root)
        self.data_dir = os.path.join(self.root, "data")
        os.makedirs(self.data_dir)
        os.chmod(self.data_dir, 0o755)

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


def _make_world_readable(top):
    os.chmod(top, 0o755)
    for folder, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def sandbox_uid(slot):
    """An unprivileged uid no account uses, one per concurrent child so sweeps never collide."""
    uid = UID_BASE + slot
    while _uid_taken(uid):
        uid += 100
    return uid


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

    def on(self, layer):
        return self.layers.get(layer) == "on"

    def plan(self, scratch, view_root, uid, read_only_extra=()):
        """The confinement plan of one child; ``read_only_extra`` are folders it must read."""
        plan = {"rlimits": self.limits.rlimits(with_processes=self.on("uid")), "cwd": scratch,
                "seccomp": self.on("seccomp"), "parent": os.getpid()}
        if self.on("uid"):
            plan.update(uid=uid, gid=uid)
        if self.on("namespaces"):
            plan.update(namespaces=True, network_namespace=self.on("network_namespace"))
            if self.on("filesystem_view"):
                plan["view"] = filesystem_view(view_root, self.sys_path, [self.workspace.kit_root,
                                               self.workspace.data_dir, *read_only_extra], [scratch])
        return plan

    def summary(self):
        return {"layers": dict(self.layers),
                "off": [name for name in LAYER_ORDER if not self.on(name)]}


def filesystem_view(view_root, sys_path, read_only, writable):
    system = [p for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc") if os.path.exists(p)]
    symlinks = {p: os.readlink(p) for p in system if os.path.islink(p)}
    python = {sys.base_prefix, sys.prefix, *sys_path}
    return {
        "root": view_root,
        "read_only": sorted({p for p in system if p not in symlinks} | python | set(read_only)),
        "writable": list(writable),
        "hidden": _own_package_dirs(),
        "symlinks": symlinks,
        "tmp_size": 64 * MiB,
    }


def detect(workspace, limits, disabled=()):
    """Probe the layers, strongest plan first, and keep what confines cleanly.

    ``disabled`` names layers to leave off on purpose (the benchmark measures
    the cost of isolation that way).
    """
    from .supervise import probe

    sys_path = child_sys_path()
    layers = {name: "off: disabled" if name in disabled else "on" for name in LAYER_ORDER}
    if os.geteuid() != 0:
        layers["uid"] = "off: the grader is not running as root"
    if platform.system() != "Linux":
        for name in ("namespaces", "filesystem_view", "network_namespace", "seccomp"):
            layers[name] = f"off: not available on {platform.system()}"
    while True:
        for name in ("filesystem_view", "network_namespace"):
            if layers["namespaces"] != "on" and layers[name] == "on":
                layers[name] = "off: needs namespaces"
        sandbox = Sandbox(layers, workspace, limits, sys_path)
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


def sweep(uid, process_group):
    """Kill whatever the run left behind: every process of its uid, or else its process group."""
    if uid is not None and os.geteuid() == 0:
        for _ in range(5):
            subprocess.run(["kill", "-s", "KILL", "--", "-1"], user=uid, group=uid, extra_groups=[],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if not _uid_has_processes(uid):
                return
            time.sleep(0.01)
        return
    try:
        os.killpg(process_group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _uid_has_processes(uid):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
            except OSError:
                continue
            # a zombie is already dead: its parent (init, for orphans) reaps it
            if int(fields.get("Uid", "-1 ").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
                return True
    return False


def doctor_lines(sandbox):
    """Human-readable lines of what this machine offers, for ``grader doctor``."""
    lines = []
    for name in LAYER_ORDER:
        state = sandbox.layers.get(name, "on")
        lines.append(f"{name:18} {state}")
    lines.append(f"{'bubblewrap':18} {'installed at ' + shutil.which('bwrap') if shutil.which('bwrap') else 'not installed'}"
                 " (the built-in namespaces give the same view; bwrap is not needed)")
    return lines


def config_json(config):
    return json.dumps(config, separators=(",", ":"))
