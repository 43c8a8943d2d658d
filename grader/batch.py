"""Grading a class: many submissions at once, each confined as if alone, with a summary.

Jobs are threads of the grader, each with its own child slot (its own scratch
folder and, as root, its own uid), so their children share nothing; the work
itself happens in the children. A result is written as soon as its submission
is graded, and ``summary.json`` after each one, so an interrupted batch keeps
everything finished so far, and a rerun grades only what is missing or changed.
"""

import concurrent.futures
import dataclasses
import datetime
import os
import threading

from . import __version__, isolation, results, submission

SUMMARY = "summary.json"


@dataclasses.dataclass
class Outcome:
    """What became of one submission of a batch."""

    path: str
    name: str
    status: str                  # "graded", "unchanged", "could not grade", "interrupted"
    result: dict | None = None
    target: str | None = None    # where its result file is
    error: str | None = None


def default_jobs(memory_bytes):
    """``(jobs, why lowered or None)``: one per CPU, as many as fit the memory at the per-child limit."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return cpus, None
    fit = max(memory // memory_bytes, 1)
    if fit < cpus:
        return fit, (f"{fit} jobs, not {cpus}: each child may use {memory_bytes / 2**30:.1f} GiB "
                     f"and this machine has {memory / 2**30:.1f} GiB")
    return cpus, None


def find_submissions(folder):
    """The submissions in a class folder: each subfolder and each archive, by name."""
    if not os.path.isdir(folder):
        raise submission.SubmissionError(f"{folder}: no such folder")
    entries = sorted(os.listdir(folder))
    found = [os.path.join(folder, name) for name in entries if not name.startswith(".")
             and (os.path.isdir(os.path.join(folder, name)) or name.endswith(submission.ARCHIVE_SUFFIXES))]
    if not found:
        raise submission.SubmissionError(f"{folder}: no submissions in it (subfolders or .zip/.tar.gz archives)")
    return found


class Batch:
    """Grade ``paths`` with ``jobs`` at once.

    ``report(outcome, counts)`` hears of each submission as it ends, and
    ``on_change(counts)`` of every start too; ``counts`` holds ``done``,
    ``running``, ``failed`` (could not grade) and ``total``.
    """

    def __init__(self, session, paths, out_dir=None, force=False, jobs=1, report=None, on_change=None, target=None,
                 encode=None):
        self.session = session
        self.paths = list(paths)
        self.out_dir = out_dir
        self.force = force
        self.jobs = max(1, min(jobs, len(self.paths)))
        self.report = report or (lambda outcome, counts: None)
        self.on_change = on_change or (lambda counts: None)
        self.target = target          # where a single result goes (``--out``)
        self.encode = encode or (lambda result: result)   # the result files' format
        self.abort = threading.Event()
        self.outcomes = {}
        self.counts = {"done": 0, "running": 0, "failed": 0, "total": len(self.paths)}
        self._lock = threading.Lock()
        self._slots = list(range(self.jobs))

    def run(self):
        """Grade every submission; on KeyboardInterrupt stop the running ones, keep what is finished, re-raise."""
        pool = concurrent.futures.ThreadPoolExecutor(self.jobs, thread_name_prefix="grade")
        futures = [pool.submit(self._one, path) for path in self.paths]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
        except BaseException:
            self.abort.set()
            pool.shutdown(wait=True, cancel_futures=True)
            self._write_summary()
            raise
        pool.shutdown()
        self._write_summary()
        return [self.outcomes[path] for path in self.paths if path in self.outcomes]

    def _one(self, path):
        if self.abort.is_set():
            return
        with self._lock:
            slot = self._slots.pop()
            self.counts["running"] += 1
            self.on_change(dict(self.counts))
        try:
            outcome = self._grade(path, slot)
        finally:
            with self._lock:
                self._slots.append(slot)
                self.counts["running"] -= 1
        if outcome.status == "interrupted":
            return
        with self._lock:
            self.outcomes[path] = outcome
            self.counts["done"] += 1
            self.counts["failed"] += outcome.status == "could not grade"
            self._write_summary()
            self.report(outcome, dict(self.counts))
            self.on_change(dict(self.counts))

    def _grade(self, path, slot):
        name = submission.submission_name(path)
        try:
            staged = self.session.stage(path)
        except submission.SubmissionError as exc:
            return Outcome(path, name, "could not grade", error=str(exc))
        target = self.target or (os.path.join(self.out_dir, f"{staged.name}.json") if self.out_dir else None)
        if target and not self.force:
            previous = results.current(target, self.session.fingerprint(staged))
            if previous is not None:
                return Outcome(path, staged.name, "unchanged", previous, target)
        try:
            result = self.session.grade(staged, slot, self.abort)
        except isolation.SandboxError as exc:   # not the submission's doing (supervise.GradingError, say)
            return Outcome(path, staged.name, "could not grade", error=f"{staged.name}: {exc}")
        if result is None:
            return Outcome(path, staged.name, "interrupted")
        if target:
            results.write_atomic(target, self.encode(result))
        return Outcome(path, staged.name, "graded", result, target)

    def _write_summary(self):
        if not self.out_dir:
            return
        results.write_atomic(os.path.join(self.out_dir, SUMMARY), summary(self.outcomes.values()))


def summary(outcomes):
    """Every submission's total and per-suite scores, and why any could not be graded."""
    entries = []
    for outcome in sorted(outcomes, key=lambda o: o.name):
        entry = {"name": outcome.name, "submission": outcome.path,
                 "status": "could not grade" if outcome.status == "could not grade" else "graded"}
        if outcome.result is not None:
            result = outcome.result
            entry.update(handout=result.get("handout"), score=result["score"], max_score=result["max_score"],
                         suites={suite["name"]: suite["score"] for suite in result["suites"]},
                         result=os.path.basename(outcome.target) if outcome.target else None)
        else:
            entry["error"] = outcome.error
        entries.append(entry)
    graded = [entry for entry in entries if entry["status"] == "graded"]
    return {"grader": __version__, "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "graded": len(graded), "could_not_grade": len(entries) - len(graded), "submissions": entries}
