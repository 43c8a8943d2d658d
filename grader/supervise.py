"""Running the suites in a confined child and surviving whatever it does.

The child streams frames (``kit/wire.py``) through a pipe the grader owns.
The grader watches that pipe, the child's stdout and stderr, and the clock:
a case that hangs, kills its process, or sends something malformed costs
that case only - the child is killed, everything it started is swept, and a
fresh child continues after the case. Nothing here decides a score; it only
collects values and what happened.

Time is spent once. The child tells which of the student's functions is running
long (``kit/student.py``), so when a case runs past its time limit the innermost of
them is where it hung, and that function is not run again: a later case that calls
it stops at once, with the case's status ("timeout") and the case where it hung,
while a case that does not call it runs as before. All cases of a submission share
a time budget (``Limits.submission_budget``): when it is spent, the case running
stops and every case not run yet is "not run: the time budget was spent", all
"timeout" and scored 0.
"""

import dataclasses
import os
import select
import signal
import subprocess
import sys
import time

from . import isolation, scores
from .template import TemplateError
from .kit import wire

SIGNAL_MEANINGS = {
    signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted", signal.SIGKILL: "killed",
    signal.SIGXCPU: "CPU time limit reached", signal.SIGXFSZ: "file size limit reached",
    signal.SIGBUS: "bus error", signal.SIGFPE: "arithmetic fault", signal.SIGTERM: "terminated",
}
# Deaths outside any case that a limit of the sandbox explains: the submission's (see ``_watch``).
SANDBOX_LIMIT_SIGNALS = {signal.SIGXCPU, signal.SIGXFSZ}
PROBE_SLOT = 999
REFERENCE_SLOT = 998   # computing a reference while jobs grade in slots 0, 1, ...
CASE_META = ("checks", "advisory", "weight", "timeout", "hint", "hint_on")  # what the reference run says of a case
HUNG_GRACE = 2.0         # seconds a case that called a hung function has left to end (the student may catch it)
MAX_RUNNING_CALLS = 1000  # long calls of one case the grader keeps track of


@dataclasses.dataclass
class CaseRun:
    """What one case produced in the child."""

    case: str
    values: dict = dataclasses.field(default_factory=dict)    # name -> {"value": array, "numeric": array, "meta": {}}
    stages: list = dataclasses.field(default_factory=list)    # failing pytest stages, from the JSON report
    problems: list = dataclasses.field(default_factory=list)  # frames the grader refused
    used: list = dataclasses.field(default_factory=list)      # the student functions the case ran
    raised: list = dataclasses.field(default_factory=list)    # the student's computes that raised, stood in for
    ended: bool = False
    not_run: bool = False          # never started: the time budget was spent, or the process kept dying
    status: str | None = None      # "timeout" or "error" when the process failed during the case
    message: str | None = None
    duration: float = 0.0
    output: str = ""


@dataclasses.dataclass
class Execution:
    cases: dict
    case_meta: dict = dataclasses.field(default_factory=dict)
    layers: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    restarts: int = 0
    hung: dict = dataclasses.field(default_factory=dict)   # student function -> the case where it ran past its limit
    aborted: bool = False    # stopped from outside (an interrupted batch): not a result
    duration: float = 0.0
    startup: float = 0.0     # from starting each child to its first case: interpreter, imports, confinement
    children: dict | None = None   # {"start": "forked"}, or exec and why, when a template was given
    lost: list = dataclasses.field(default_factory=list)   # deaths not the submission's doing (one is retried)


class GradingError(isolation.SandboxError):
    """The grading could not be finished for reasons that are not the submission's: no result."""


class OutputCapture:
    """The first ``limit`` bytes of a stream, and how many more were dropped."""

    def __init__(self, limit):
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def add(self, data):
        room = self.limit - len(self.kept)
        self.kept += data[:max(room, 0)]
        self.dropped += max(len(data) - max(room, 0), 0)

    def absorb(self, other):
        """Append what another capture kept, counting what either dropped."""
        self.add(bytes(other.kept))
        self.dropped += other.dropped

    def text(self):
        text = self.kept.decode("utf-8", errors="replace")
        return text + (f"\n[... {self.dropped} more bytes not kept]" if self.dropped else "")


class Child:
    """One started child: its process, its pipes, and the frames read so far.

    It is exec'd (under ``wrapper``, bubblewrap's command), or forked from
    ``template`` (``grading`` says it begins a grading, which the template counts).
    """

    def __init__(self, sandbox, slot, config, uid, wrapper=(), template=None, grading=False):
        self.sandbox = sandbox
        self.uid = uid
        self.wrapped = bool(wrapper)
        self.forked = template is not None
        read_fd, write_fd = os.pipe()
        env = isolation.child_env(config["scratch"])
        self.started = time.monotonic()
        try:
            if self.forked:
                self.process = template.spawn(config, env, write_fd, grading)
            else:
                self.process = subprocess.Popen(
                    [*wrapper, sys.executable, "-I", "-B", "-c", isolation.BOOTSTRAP, sandbox.workspace.kit_root,
                     isolation.config_json(dict(config, channel_fd=write_fd))],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,),
                    env=env, cwd=config["scratch"], start_new_session=True,
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.channel = read_fd
        if self.forked:
            self.pidfd = self.process.pidfd
        else:
            self.pidfd = os.pidfd_open(self.process.pid) if hasattr(os, "pidfd_open") else None
        limits = sandbox.limits
        self.reader = wire.FrameReader(limits.max_value_bytes, limits.max_run_bytes)
        self.stdout = OutputCapture(limits.max_output_bytes)
        self.stderr = OutputCapture(limits.max_output_bytes)
        self.outputs = {self.process.stdout.fileno(): self.stdout, self.process.stderr.fileno(): self.stderr}
        self.status = None
        self.rusage = None

    def frames(self, deadline, abort=None):
        """Frames as they arrive until the deadline passes or the process ends; then ``None``.

        Yields ``("frame", header, payload)``, or ``("timeout",)`` once when the
        deadline passes (the caller kills the child or moves the deadline), or
        ``("abort",)`` when the event ``abort`` is set.
        """
        open_fds = [self.channel, *self.outputs]
        while True:
            if abort is not None and abort.is_set():
                yield ("abort",)
                return
            wait = deadline() - time.monotonic()
            if wait <= 0:
                yield ("timeout",)
                continue
            watched = open_fds + ([self.pidfd] if self.pidfd is not None else [])
            polled = self.pidfd is None or abort is not None
            ready, _, _ = select.select(watched, [], [], min(wait, 0.2) if polled else wait)
            exited = self.pidfd in ready if self.pidfd is not None else self.process.poll() is not None
            # Frames before output: output the child wrote after a frame goes with that frame's case. Output
            # written before a frame was already read: the child waits for that (harness.flush_output).
            for fd in sorted(ready, key=lambda fd: fd != self.channel):
                if fd == self.pidfd:
                    continue
                data = os.read(fd, 1 << 20)
                if not data:
                    open_fds.remove(fd)
                elif fd == self.channel:
                    for header, payload in self.reader.feed(data):
                        yield ("frame", header, payload)
                else:
                    self.outputs[fd].add(data)
            if exited:
                return

    def stop(self):
        """Kill the child and everything it started; reap it; keep what it wrote before dying."""
        if self.status is None and self.forked:
            ended = self.process.ended()
            self.process.kill()   # its keeper kills its process group, itself last
            self.status, self.rusage = self.process.wait4()
            if self.uid is not None and not (ended and self.sandbox.provides_view()):
                # A PID namespace ended with it, and took every process of its uid along: swept only
                # when it was stopped, while that namespace may still be ending. Without a uid of its
                # own, the keeper's kill of its process group is all there is to do.
                isolation.sweep(self.uid, None)
        if self.status is None:
            # os.kill, not Popen.kill: Popen polls first, and would reap the status we need.
            try:
                os.kill(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # Swept before it is reaped: the pid of a reaped child, its process group's id, may be
            # anyone's by the time of the sweep on a busy machine.
            isolation.sweep(self.uid, self.process.pid)
            _, self.status, self.rusage = os.wait4(self.process.pid, 0)
            self.process.returncode = os.waitstatus_to_exitcode(self.status)
        leftovers = []
        for fd in [self.channel, *self.outputs]:
            while select.select([fd], [], [], 0)[0]:
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                if fd == self.channel:
                    try:
                        leftovers.extend(self.reader.feed(data))
                    except wire.WireError:
                        break
                else:
                    self.outputs[fd].add(data)
        os.close(self.channel)
        if self.pidfd is not None:
            os.close(self.pidfd)
        self.process.stdout.close()
        self.process.stderr.close()
        return leftovers

    def describe_end(self, memory_limit):
        """How the process ended, to follow "the process": "exited with code 3", say."""
        code = os.waitstatus_to_exitcode(self.status)
        if self.wrapped and 128 < code <= 128 + 64:
            code = 128 - code  # bubblewrap passes a signal death on as 128 + N: read it back as the signal
        if code < 0:
            number = -code
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
            text = f"was killed by signal {name}"
            if number in SIGNAL_MEANINGS:
                text += f" ({SIGNAL_MEANINGS[number]})"
        else:
            text = f"exited with code {code}"
        if self.rusage is not None and self.rusage.ru_maxrss * 1024 > 0.8 * memory_limit:
            text = f"ran out of memory ({text}; the limit is {memory_limit // isolation.MiB} MiB)"
        return text


def _child_config(sandbox, slot, mode, submission_dir, data, seed, cases, blocked, year=None, student=(), hung=None,
                  forked=False):
    uid = sandbox.workspace.uid(slot) if sandbox.on("uid") else None
    scratch, view_root = sandbox.workspace.slot(slot, uid)
    plan, wrapper = sandbox.plan(scratch, view_root, uid, read_only_extra=[submission_dir], forked=forked)
    return uid, wrapper, {"mode": mode, "plan": plan, "sys_path": sandbox.sys_path, "submission": submission_dir,
                 "suites": list(scores.SUITE_POINTS),
                 "data": data, "seed": seed, "cases": list(cases), "blocked_imports": dict(blocked),
                 "year": year, "student": [list(pair) for pair in student], "hung": dict(hung or {}),
                 "scratch": scratch, "max_value_bytes": sandbox.limits.max_value_bytes}


def _probe_child(sandbox, template=None):
    """The child started (or forked from ``template``) to probe the plan; and what it said of its layers."""
    forked = template is not None
    uid, wrapper, config = _child_config(sandbox, PROBE_SLOT, "probe", sandbox.workspace.kit_root, {}, 0, [], {},
                                         forked=forked)
    child = Child(sandbox, PROBE_SLOT, config, uid, wrapper, template)
    confined = None
    try:
        for event in child.frames(lambda: child.started + sandbox.limits.startup_timeout):
            if event[0] == "timeout":
                break
            if event[1].get("type") == "confined":
                confined = event[1]
    except wire.WireError:
        pass
    child.stop()
    return child, confined


def probe_forked(sandbox, template):
    """None if a child forked from ``template`` applies every layer ``sandbox.forked_layers`` names; else why not."""
    try:
        child, confined = _probe_child(sandbox, template)
    except (OSError, TemplateError) as exc:
        return f"the template could not fork a child ({exc})"
    if confined is None:
        return (f"a forked child {child.describe_end(sandbox.limits.memory_bytes)} before it confined itself: "
                f"{child.stderr.text()[-300:]}")
    if confined.get("error"):
        return f"a forked child could not apply {confined['error']}"
    missing = [layer for layer in sandbox.forked_layers() if confined["layers"].get(layer) != "on"]
    if missing:
        return f"a forked child could not apply {', '.join(missing)}"
    return None


def probe(sandbox):
    """Start a child under the sandbox's plan; ``None`` if it confined cleanly, else ``(layer, reason)``."""
    child, confined = _probe_child(sandbox)
    if confined and not confined.get("error"):
        return None
    if confined:
        failed = [name for name, state in confined.get("layers", {}).items() if str(state).startswith("failed")]
        return (failed[-1] if failed else "process"), confined["error"]
    stderr = child.stderr.text()
    if sandbox.on("bubblewrap") and stderr.startswith("bwrap:"):
        return "bubblewrap", stderr.strip()[:300]
    innermost = next((name for name in ("seccomp", "uid", "filesystem_view", "namespaces") if sandbox.on(name)),
                     "process")
    return innermost, f"the child {child.describe_end(sandbox.limits.memory_bytes)}: {stderr[-300:]}"


def execute(sandbox, submission_dir, cases, *, mode, data, seed, year, student, case_timeouts=None, slot=0,
            abort=None, on_progress=None, template=None):
    """Run ``cases`` of the staged submission, restarting the child after each case that kills it.

    ``cases`` empty runs every case of the handout ``year`` (the reference run).
    ``student`` lists that handout's student functions as ``(module, qualified
    name)``. When the event ``abort`` is set, the child is killed and the
    execution returned marked ``aborted``. ``on_progress(done, total)`` hears
    each time a case finishes. Children are forked from ``template`` when one
    is given and it can (else exec'd, and ``children`` says why). Returns an
    ``Execution``.
    """
    limits = sandbox.limits
    budget = limits.submission_budget
    started = time.monotonic()
    budget_end = None if budget is None else started + budget
    spent = None if budget is None else f"not run: the time budget was spent ({budget:g} s for the whole submission)"
    execution = Execution(cases={case: CaseRun(case) for case in cases})
    if template is not None:
        unfit = template.unfit()
        execution.children = {"start": "exec", "why": unfit} if unfit else {"start": "forked"}
        template = None if unfit else template
    remaining = list(cases)
    blocked = {}
    stdout, stderr = OutputCapture(limits.max_output_bytes), OutputCapture(limits.max_output_bytes)
    first = True
    while first or remaining:
        if not first:
            execution.restarts += 1
        first = False
        if execution.restarts > limits.max_restarts:
            _fail_remaining(execution, remaining, "error", f"not run: the process died {execution.restarts} times")
            break
        if budget_end is not None and time.monotonic() >= budget_end:
            _fail_remaining(execution, remaining, "timeout", spent)
            break
        if abort is not None and abort.is_set():
            execution.aborted = True
            break
        child = None
        if template is not None:
            uid, wrapper, config = _child_config(sandbox, slot, mode, submission_dir, data, seed, remaining, blocked,
                                                 year, student, execution.hung, forked=True)
            try:
                child = Child(sandbox, slot, config, uid, template=template, grading=execution.restarts == 0)
            except (OSError, TemplateError) as exc:
                template, execution.children = None, {"start": "exec", "why": f"the template failed: {exc}"}
        if child is None:
            uid, wrapper, config = _child_config(sandbox, slot, mode, submission_dir, data, seed, remaining,
                                                 blocked, year, student, execution.hung)
            child = Child(sandbox, slot, config, uid, wrapper)
        progress = _watch(child, execution, case_timeouts or {}, blocked, abort, on_progress, budget_end)
        if progress == "aborted":
            execution.aborted = True
            break
        if progress == "lost" and len(execution.lost) > 1:   # retried once already
            raise GradingError("the grading process died twice, neither time the submission's doing: "
                               + "; then ".join(execution.lost))
        stdout.absorb(child.stdout)
        stderr.absorb(child.stderr)
        remaining = [case for case in remaining if not _finished(execution.cases[case])]
        _report_progress(execution, on_progress)
        if progress == "done":
            _fail_remaining(execution, remaining, "error", "not run: the test session ended before this case")
            break
        if progress == "stuck":
            _fail_remaining(execution, remaining, "error", execution.notes[-1])
            break
        if progress == "spent":
            _fail_remaining(execution, remaining, "timeout", spent)
            break
    execution.notes += [f"{function} ran past its time limit in {_shown(case)}: it was not run again"
                        for function, case in execution.hung.items()]
    execution.stdout, execution.stderr = stdout.text(), stderr.text()
    execution.duration = time.monotonic() - started
    return execution


def _finished(run):
    return run.ended or run.status is not None


def _shown(case):
    """``backward::transpose[3x4]`` as people read it: ``backward/transpose[3x4]``."""
    return case.replace("::", "/")


def _report_progress(execution, on_progress):
    if on_progress is not None:
        on_progress(sum(_finished(run) for run in execution.cases.values()), len(execution.cases))


def _fail_remaining(execution, remaining, status, message):
    for case in remaining:
        run = execution.cases[case]
        if not _finished(run):
            run.status, run.message, run.not_run = status, message, True


def _watch(child, execution, case_timeouts, blocked, abort=None, on_progress=None, budget_end=None):
    """Feed one child's frames into ``execution``; return "done", "died", "stuck", "spent", "lost" or "aborted".

    The child is stopped at its case's deadline, or at ``budget_end`` (the
    submission's time budget), whichever comes first.
    """
    limits = child.sandbox.limits
    state = {"case": None, "since": child.started, "import": None, "done": False, "progress": False,
             "deadline": child.started + limits.startup_timeout, "failure": None, "running": {}}

    def deadline():
        return state["deadline"] if budget_end is None else min(state["deadline"], budget_end)

    def timeout_of(case):
        if limits.case_timeout is not None:
            return limits.case_timeout
        return case_timeouts.get(case) or limits.default_case_timeout

    try:
        for event in child.frames(deadline, abort):
            if event[0] == "timeout" and budget_end is not None and budget_end < state["deadline"]:
                state["failure"] = ("budget", None)
                break
            if event[0] in ("timeout", "abort"):
                state["failure"] = (event[0], None)
                break
            _, header, payload = event
            _handle(header, payload, child, execution, state, timeout_of)
            if header.get("type") == "end":
                _report_progress(execution, on_progress)
    except wire.WireError as exc:
        state["failure"] = ("wire", str(exc))
    finally:
        leftovers = child.stop()
    if state["failure"] is None:
        try:
            for header, payload in leftovers:
                _handle(header, payload, child, execution, state, timeout_of)
        except wire.WireError as exc:
            state["failure"] = ("wire", str(exc))

    if state["failure"] and state["failure"][0] == "abort":
        return "aborted"
    case = state["case"]
    end = child.describe_end(limits.memory_bytes)
    if state["failure"] and state["failure"][0] == "budget":
        if case is not None and not _finished(execution.cases[case]):
            run = execution.cases[case]
            run.status, run.duration = "timeout", time.monotonic() - state["since"]
            run.message = (f"stopped: the time budget was spent during this case "
                           f"({limits.submission_budget:g} s for the whole submission)")
            run.output = _case_output(child, state)
        return "spent"
    if state["failure"] and state["failure"][0] == "timeout":
        seconds = timeout_of(case) if case else limits.startup_timeout
        what = f"timed out after {seconds:g} s"
        if case is not None and state["running"]:
            hung = list(state["running"].values())[-1]   # the innermost long call still running
            execution.hung.setdefault(hung, case)
            what += f" in {hung}"
    elif state["failure"]:
        what = f"sent a value the grader refused: {state['failure'][1]}"
    else:
        what = f"the process {end}"
    if state["done"] and case is None:
        return "done"
    if state["import"]:
        module = state["import"]
        blocked[module] = f"importing {module} ended the process: {what}"
        what = blocked[module]
        if case is None:
            return "died"  # the next child leaves that module out
    if case is not None:
        run = execution.cases[case]
        if run.status is None:   # a case stopped for calling a hung function keeps saying so
            run.status = "timeout" if state["failure"] and state["failure"][0] == "timeout" else "error"
            run.message = what
        run.duration = time.monotonic() - state["since"]
        run.output = _case_output(child, state)
        return "died"
    if not _pinned_on_submission(child, state, limits):
        execution.lost.append(what)
        execution.notes.append(f"outside any case, {what}: not the submission's doing, so it was started again")
        return "lost"
    execution.notes.append(f"outside any case, {what}")
    if not state["progress"]:
        return "stuck"
    return "died"


def _pinned_on_submission(child, state, limits):
    """Whether a death outside any case (and outside the submission's import) is the submission's.

    It is when a limit of the sandbox ended the process (CPU, file size,
    memory), or when what it sent broke the wire format (only code running
    in the child could do that). Anything else - a kill from outside, a start
    that timed out on a busy machine, a crash in the grader's own code - is
    not, and must never be scored.
    """
    if state["failure"]:
        return state["failure"][0] == "wire"
    code = os.waitstatus_to_exitcode(child.status)
    if child.wrapped and 128 < code <= 128 + 64:
        code = 128 - code
    memory = child.rusage is not None and child.rusage.ru_maxrss * 1024 > 0.8 * limits.memory_bytes
    return memory or (code < 0 and -code in SANDBOX_LIMIT_SIGNALS)


def _case_output(child, state):
    return child.stdout.kept[state.get("output_mark", 0):].decode("utf-8", errors="replace")[:2000]


def _handle(header, payload, child, execution, state, timeout_of):
    kind = header["type"]
    case = header.get("case")
    if case is not None and not isinstance(case, str):
        raise wire.WireError(f"a {kind} frame names its case with {type(case).__name__}, not a string")
    now = time.monotonic()
    if kind == "confined":
        if not execution.layers:
            execution.layers = header.get("layers", {})
        if header.get("error"):
            raise isolation.SandboxError(f"the sandbox could not be set up: {header['error']}")
    elif kind == "start" and case in execution.cases:
        if not state["progress"]:
            execution.startup += now - child.started
        state.update(case=case, since=now, deadline=now + timeout_of(case), progress=True,
                     output_mark=len(child.stdout.kept), running={})
    elif kind == "end" and case == state["case"] and case is not None:
        run = execution.cases[case]
        run.ended, run.duration = True, now - state["since"]
        run.output = _case_output(child, state)
        state.update(case=None, deadline=now + child.sandbox.limits.startup_timeout)
    elif kind == "import":
        state["import"] = header.get("module") if header.get("phase") == "start" else None
    elif kind == "value" and case == state["case"] and case is not None:
        _store_value(execution.cases[case], header, payload)
    elif kind == "stage" and case in execution.cases:
        execution.cases[case].stages.append({"when": header.get("when"), **(header.get("stage") or {})})
    elif kind == "used" and case == state["case"] and case is not None:
        functions = header.get("functions")
        if isinstance(functions, list) and all(isinstance(f, str) for f in functions):
            execution.cases[case].used = functions[:200]
    elif kind == "running" and case == state["case"] and case is not None:
        call, function = header.get("call"), header.get("function")
        if isinstance(call, int) and isinstance(function, str) and len(state["running"]) < MAX_RUNNING_CALLS:
            state["running"][call] = function[:200]
    elif kind == "returned" and case == state["case"] and isinstance(header.get("call"), int):
        state["running"].pop(header["call"], None)
    elif kind == "calls_hung" and case == state["case"] and case is not None \
            and isinstance(header.get("function"), str) and header["function"] in execution.hung:
        run, function = execution.cases[case], header["function"]
        if run.status is None:
            run.status = "timeout"
            run.message = (f"stopped at once: it calls {function}, which ran past its time limit in "
                           f"{_shown(execution.hung[function])}")
            state["deadline"] = min(state["deadline"], now + HUNG_GRACE)
    elif kind == "raised" and case == state["case"] and case is not None:
        execution.cases[case].raised = _raised_computes(header.get("exceptions"))
    elif kind == "case":
        execution.case_meta[case] = {key: header.get(key) for key in CASE_META}
        execution.cases.setdefault(case, CaseRun(case))
    elif kind == "collect_error":
        execution.notes.append(f"the suites could not be collected: {header.get('text', '')[-2000:]}")
    elif kind == "done":
        state["done"] = True


def _raised_computes(exceptions):
    """The well-formed entries of a "raised" frame: function, exception, message and traceback frames."""
    if not isinstance(exceptions, list):
        return []
    kept = []
    for entry in exceptions[:20]:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str)
                                                  for key in ("function", "exception", "message")):
            continue
        frames = entry.get("traceback") if isinstance(entry.get("traceback"), list) else []
        kept.append({"function": entry["function"][:200], "exception": entry["exception"][:200],
                     "message": entry["message"][:500],
                     "traceback": [{"path": str(frame.get("path"))[:1000], "lineno": frame.get("lineno")}
                                   for frame in frames[-20:] if isinstance(frame, dict)
                                   and isinstance(frame.get("lineno"), int)]})
    return kept


def _store_value(run, header, payload):
    name, role = header.get("name"), header.get("role")
    if not isinstance(name, str) or role not in ("value", "numeric"):
        run.problems.append(f"a value frame without a proper name or role: {str(header)[:200]}")
        return
    try:
        array = wire.decode_array(header, payload)
    except wire.WireError as exc:
        run.problems.append(f"{name}: {exc}")
        return
    entry = run.values.setdefault(name, {"meta": {}})
    entry[role] = array
    if role == "value":
        entry["meta"] = {key: header.get(key) for key in ("kind", "rtol", "atol", "norm", "exact_dtype")}
