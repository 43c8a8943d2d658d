"""One grading session: the sandbox, the data and the reference, then submissions one by one.

Everything a batch shares is prepared once (probing the sandbox, staging the
data, loading or recomputing the reference); each submission is then staged,
run in its own confined children, and scored.
"""

import fnmatch
import os
import platform
import shutil
import time

import numpy as np

from . import __version__, datasets, handout, isolation, reference, scores, submission, supervise


def private_paths():
    """Folders a child must never see: the grader, the reference solution, and the expected values."""
    import needle

    return [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(needle.__file__)),
            str(reference.REFERENCE_DIR), str(reference.cache_root())]


def detect_sandbox(workspace, limits, disabled_layers=()):
    """The strongest confinement this machine offers (see ``isolation.detect``)."""
    return isolation.detect(workspace, limits, supervise.probe, private_paths(), disabled_layers)


class Session:
    def __init__(self, data_dir=None, seed=0, limits=None, suites=(), cases=(), disabled_layers=(), strict=False):
        self.workspace = isolation.Workspace()
        try:
            self.limits = limits or isolation.Limits()
            self.sandbox = detect_sandbox(self.workspace, self.limits, disabled_layers)
            self.dataset = datasets.resolve(data_dir, self.workspace.data_dir)
            self.seed = seed
            self.reference = reference.load(self.sandbox, self.dataset, seed)
        except BaseException:
            self.workspace.close()
            raise
        self.selected = select_cases(self.reference.cases, suites, cases)
        self.strict = strict
        self.year = handout.DEFAULT_YEAR
        self._count = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.workspace.close()

    def environment(self, applied_layers):
        """What a result was graded with; ``applied_layers`` are those the child reported applying."""
        return {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "grader": __version__,
            "platform": platform.platform(),
            "reference": {"digest": self.reference.digest(), "origin": self.reference.origin,
                          "note": self.reference.note},
            "data": self.dataset.as_json(),
            "data_description": self.dataset.describe(),
            "seed": self.seed,
            "sandbox": dict(self.sandbox.summary(), applied=applied_layers,
                            uid=self.workspace.uid(0) if self.sandbox.on("uid") else None),
        }

    def stage(self, path):
        self._count += 1
        directory = os.path.join(self.workspace.root, "submissions", str(self._count))
        shutil.rmtree(directory, ignore_errors=True)
        return submission.stage(path, directory)

    def fingerprint(self, staged):
        """What a result depends on: unchanged fingerprint, unchanged result."""
        return {"submission": staged.digest, "reference": self.reference.digest(), "grader": __version__,
                "cases": sorted(self.selected), "strict": self.strict}

    def execute(self, staged):
        """Run the selected cases of a staged submission in confined children."""
        return supervise.execute(self.sandbox, staged.directory, self.selected, mode="grade",
                                 data=self.dataset.child_paths(), seed=self.seed,
                                 student=handout.student_functions(self.year),
                                 case_timeouts=self.reference.case_timeouts())

    def grade(self, staged):
        started = time.monotonic()
        execution = self.execute(staged)
        scoring_started = time.monotonic()
        suites, total, max_total = scores.score(self.reference, execution, staged.directory,
                                                selected=set(self.selected), strict=self.strict)
        in_cases = sum(run.duration for run in execution.cases.values())
        timing = {"child_startup_s": execution.startup, "in_cases_s": in_cases,
                  "comparison_s": time.monotonic() - scoring_started,
                  "other_s": max(execution.duration - execution.startup - in_cases, 0.0)}
        return {
            "submission": staged.source,
            "name": staged.name,
            "score": total,
            "max_score": max_total,
            "strict": self.strict,
            "suites": suites,
            "files": staged.files,
            "notes": staged.notes + [scores.clean(note) for note in execution.notes],
            "output": {"stdout": scores.clean(execution.stdout, None),
                       "stderr": scores.clean(execution.stderr, None)},
            "restarts": execution.restarts,
            "environment": self.environment(execution.layers),
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
