"""One grading session: the sandbox, the data and the references, then submissions one by one.

Everything a batch shares is prepared once (probing the sandbox, staging the
data); the reference of each handout year is loaded, or recomputed, the first
time a submission of that year comes. Each submission is then staged, run in
its own confined children, and scored.
"""

import fnmatch
import os
import platform
import shutil
import threading
import time

import numpy as np

from . import __version__, bundle, datasets, isolation, reference, scores, submission, supervise, years
from . import template as template_module


def private_paths():
    """Folders a child must never see: the grader (with a student kit's bundled values), the reference
    solution (a kit has none), and the expected values."""
    paths = [os.path.dirname(os.path.abspath(__file__)), str(reference.published_root()), str(reference.cache_root())]
    if not bundle.PRESENT:
        import needle

        paths.append(os.path.dirname(os.path.abspath(needle.__file__)))
    return paths


def detect_sandbox(workspace, limits, disabled_layers=()):
    """The strongest confinement this machine offers (see ``isolation.detect``)."""
    return isolation.detect(workspace, limits, supervise.probe, private_paths(), disabled_layers)


def on_disk():
    """What gradings depend on that can change under a long-running session: the kit with its suites,
    the grader's own modules, the published references. ``{part: [(file, modified, size), ...]}``."""
    def listed(paths):
        found = []
        for path in sorted(paths):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
        return found

    kit = set(reference.kit_files())
    return {"the suites and the kit": listed(kit),
            "the grader's own files": listed(set(reference.PACKAGE_DIR.rglob("*.py")) - kit),
            "the published reference": listed(reference.published_root().glob(f"*/{reference.VALUES}"))
            + listed(reference.published_root().glob(f"*/{reference.MANIFEST}"))}


def start_template(sandbox):
    """``(template, children)``: a started template if children forked from it keep every layer of
    ``sandbox``, else None; and how children start (``{"start": "forked"}``, or exec and why)."""
    why = sandbox.why_not_forked()
    if why is None:
        try:
            started = template_module.Template(sandbox)
        except template_module.TemplateError as exc:
            why = str(exc)
        else:
            why = supervise.probe_forked(sandbox, started)
            if why is None:
                return started, {"start": "forked"}
            started.close()
    return None, {"start": "exec", "why": why}


def describe_children(sandbox, children):
    """One line for ``grader doctor``: how grading children start, and whether they keep every layer."""
    if children["start"] != "forked":
        return f"exec'd, each from a fresh interpreter: a template cannot be used ({children['why']})"
    if sandbox.on("bubblewrap"):
        return ("forked from a warm template, every layer kept: bubblewrap's namespaces (mount, network, PID, IPC, "
                "UTS) made by the forked child itself")
    return "forked from a warm template, every layer kept"


class Session:
    """``year`` grades every submission as that handout year's, instead of the year its files show.

    With ``template``, children are forked from a warm template (``template.py``)
    where that keeps every layer of the sandbox, else exec'd; ``children`` says which, and why.
    """

    def __init__(self, data_dir=None, seed=0, limits=None, suites=(), cases=(), disabled_layers=(), strict=False,
                 year=None, template=False):
        self.workspace = isolation.Workspace()   # it holds a copy of the kit taken now
        self.template = None
        self._on_disk = on_disk()
        try:
            self.limits = limits or isolation.Limits()
            self.sandbox = detect_sandbox(self.workspace, self.limits, disabled_layers)
            self.dataset = datasets.resolve(data_dir, self.workspace.data_dir)
            self.seed = seed
            self.year = year
            self.filters = (suites, cases)
            self._references = {}
            self._lock = threading.Lock()   # jobs of a batch share the references and the staging counter
            self.reference(year or bundle.YEAR or years.DEFAULT_YEAR)  # a reference that cannot be had fails here
            self.children = ({"start": "exec", "why": "no template was asked for (--no-template, or one submission)"}
                             if not template else self._start_template())
        except BaseException:
            self.close()
            raise
        self.strict = strict
        self._count = 0

    def _start_template(self):
        self.template, children = start_template(self.sandbox)
        return children

    def changed(self):
        """What changed on disk since this session started (a long-running worker then starts a new
        session, with a new copy of the kit, a new template and the references read again), or None."""
        now = on_disk()
        changed = [part for part, files in now.items() if files != self._on_disk.get(part)]
        return ", ".join(changed) or None

    def reference(self, year):
        """The reference of that handout year, loaded (or recomputed) on first use."""
        with self._lock:
            if year not in self._references:
                self._references[year] = reference.load(self.sandbox, self.dataset, self.seed, year)
            return self._references[year]

    def selected(self, year):
        """The cases of that year that the --suite and --case filters keep."""
        return select_cases(self.reference(year).cases, *self.filters)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.template is not None:
            self.template.close()
            self.template = None
        self.workspace.close()

    def environment(self, staged, applied_layers, slot=0, children=None):
        """What a result was graded with; ``applied_layers`` are those the child reported applying, and
        ``children`` how the children started, when it differs from the session's way."""
        ref = self.reference(staged.year)
        return {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "grader": __version__,
            "platform": platform.platform(),
            "reference": {"digest": ref.digest(), "origin": ref.origin, "note": ref.note},
            "data": self.dataset.as_json(),
            "data_description": self.dataset.describe(),
            "seed": self.seed,
            "sandbox": dict(self.sandbox.summary(), applied=applied_layers,
                            uid=self.workspace.uid(slot) if self.sandbox.on("uid") else None,
                            children=children or self.children),
        }

    def stage(self, path, year=None):
        """Stage a submission as ``year``'s handout, else the session's year, else the year its files show."""
        with self._lock:
            self._count += 1
            directory = os.path.join(self.workspace.root, "submissions", str(self._count))
        shutil.rmtree(directory, ignore_errors=True)
        return submission.stage(path, directory, year or self.year)

    def fingerprint(self, staged):
        """What a result depends on: unchanged fingerprint, unchanged result."""
        return {"submission": staged.digest, "handout": staged.year,
                "reference": self.reference(staged.year).digest(), "grader": __version__,
                "cases": sorted(self.selected(staged.year)), "strict": self.strict}

    def execute(self, staged, slot=0, abort=None, on_progress=None):
        """Run the selected cases of a staged submission in confined children of ``slot``."""
        return supervise.execute(self.sandbox, staged.directory, self.selected(staged.year), mode="grade",
                                 data=self.dataset.child_paths(), seed=self.seed, year=staged.year,
                                 student=years.student_functions(staged.year),
                                 case_timeouts=self.reference(staged.year).case_timeouts(), slot=slot, abort=abort,
                                 on_progress=on_progress, template=self.template)

    def grade(self, staged, slot=0, abort=None, on_progress=None):
        """The result of a staged submission; None when ``abort`` was set before it finished.

        Jobs grading at once each use their own ``slot``; ``on_progress(done, total)``
        hears of each case as it finishes.
        """
        started = time.monotonic()
        execution = self.execute(staged, slot, abort, on_progress)
        if execution.aborted:
            return None
        scoring_started = time.monotonic()
        suites, total, max_total = scores.score(self.reference(staged.year), execution, staged.directory,
                                                selected=set(self.selected(staged.year)), strict=self.strict)
        in_cases = sum(run.duration for run in execution.cases.values())
        timing = {"child_startup_s": execution.startup, "in_cases_s": in_cases,
                  "comparison_s": time.monotonic() - scoring_started,
                  "other_s": max(execution.duration - execution.startup - in_cases, 0.0)}
        return {
            "submission": staged.source,
            "name": staged.name,
            "handout": staged.year,
            "detection": staged.detection.as_json(),
            "score": total,
            "max_score": max_total,
            "strict": self.strict,
            "suites": suites,
            "files": staged.files,
            "code": staged.own_code(),
            "notes": staged.notes + [scores.clean(note) for note in execution.notes],
            "output": {"stdout": scores.clean(execution.stdout, None),
                       "stderr": scores.clean(execution.stderr, None)},
            "restarts": execution.restarts,
            "environment": self.environment(staged, execution.layers, slot, execution.children),
            "fingerprint": self.fingerprint(staged),
            "timing": {key: round(value, 4) for key, value in timing.items()},
            "duration_s": round(time.monotonic() - started, 3),
        }


def select_cases(all_cases, suites=(), patterns=()):
    """Cases of the chosen suites whose names equal or glob-match a pattern (all when none given).

    Case names hold brackets (``divide[3x4]``), which globs read as character
    classes: an exact name always matches too.
    """
    chosen = []
    for case in all_cases:
        suite, name = case.split("::", 1)
        if suites and suite not in suites:
            continue
        if patterns and not any(p in (name, case) or fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(case, p)
                                for p in patterns):
            continue
        chosen.append(case)
    return chosen
