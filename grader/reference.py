"""Expected values: published in ``reference/YEAR/``, or recomputed from ``needle/``.

A reference is the set of values that a handout year's solution, generated
from needle/, computes for every case of that year, plus each case's grading
metadata (what it grades, weight, timeout, tolerances). It is tied to a
fingerprint: the year, digests of the needle sources and of the code that
generates handouts from them, of the kit (suites and harness), of the data,
the seed, and numpy's random streams (the suites draw their inputs from
them). A reference whose fingerprint differs from the current one is stale
and never graded against: it is recomputed in a child process that runs only
the reference solution, and cached.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from . import isolation, supervise, years

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
REFERENCE_DIR = REPO_ROOT / "reference"   # beside needle/ in a checkout; $NEEDLE_GRADER_REFERENCE elsewhere
MANIFEST, VALUES = "manifest.json", "values.npz"
FORMAT = 1
FINGERPRINT_LABELS = {"needle": "the needle sources", "kit": "the suites", "data": "the data", "seed": "the seed",
                      "rng": "numpy's random streams", "format": "the reference format", "year": "the handout year"}


class ReferenceError(Exception):
    """The reference solution itself failed a case: a bug in needle/ or the suites."""


def published_root():
    """Where published references are: $NEEDLE_GRADER_REFERENCE (an installed grader, a Gradescope bundle),
    else the repository's reference/."""
    return pathlib.Path(os.environ.get("NEEDLE_GRADER_REFERENCE") or REFERENCE_DIR)


def cache_root():
    base = os.environ.get("NEEDLE_GRADER_CACHE")
    if base:
        return pathlib.Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "needle-grader"


def _digest_files(paths):
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(REPO_ROOT if REPO_ROOT in path.parents else path.parent)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _rng_fingerprint():
    rng = np.random.default_rng(12345)
    sample = [rng.standard_normal(4), rng.random(4), rng.integers(0, 1000, 4), rng.uniform(-1, 1, 4)]
    return hashlib.sha256(b"".join(np.asarray(a, dtype=np.float64).tobytes() for a in sample)).hexdigest()[:16]


def fingerprint(dataset, seed, year):
    import needle

    needle_dir = pathlib.Path(needle.__file__).resolve().parent
    kit = PACKAGE_DIR / "kit"
    return {
        "format": FORMAT,
        "year": year,
        "needle": _digest_files([*needle_dir.glob("*.py"), PACKAGE_DIR / "handout.py", PACKAGE_DIR / "years.py"]),
        "kit": _digest_files([*kit.rglob("*.py"), kit / "suites" / "pytest.ini"]),
        "data": dataset.digest,
        "seed": seed,
        "rng": _rng_fingerprint(),
    }


def _key(print_):
    return hashlib.sha256(json.dumps(print_, sort_keys=True).encode()).hexdigest()[:24]


def _value_key(case, name):
    return f"{case}|{name}"


@dataclasses.dataclass
class Reference:
    fingerprint: dict
    cases: dict          # case -> {"weight", "timeout", "hint", "values": {name: meta}}
    directory: pathlib.Path
    origin: str          # "published", "cached" or "computed"
    note: str = ""
    _values: object = None

    def expected(self, case, name):
        if self._values is None:
            self._values = np.load(self.directory / VALUES, allow_pickle=False)
        return self._values[_value_key(case, name)]

    def case_timeouts(self):
        return {case: meta.get("timeout") for case, meta in self.cases.items()}

    def digest(self):
        return _key(self.fingerprint)


def _read(directory, origin):
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not (directory / VALUES).is_file():
        return None
    return Reference(manifest["fingerprint"], manifest["cases"], directory, origin)


def _write(directory, print_, cases, values):
    """Values first, manifest last, each by rename: a reader never sees a half-written reference."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".npz", delete=False) as handle:
        np.savez_compressed(handle, **values)
    os.replace(handle.name, directory / VALUES)
    manifest = {"fingerprint": print_, "cases": cases}
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".json", delete=False) as handle:
        json.dump(manifest, handle, indent=1)  # in the suites' own order
        handle.write("\n")
    os.replace(handle.name, directory / MANIFEST)


def compute(sandbox, dataset, seed, year):
    """Run every case of the year on its reference solution, in a child that runs nothing else.

    It runs under the default limits: limits tightened for grading a submission
    (``--timeout``, ``--memory-mb``) are not meant for the reference.
    """
    sandbox = dataclasses.replace(sandbox, limits=isolation.Limits())
    staged = pathlib.Path(sandbox.workspace.root) / f"reference-solution-{year}"
    shutil.rmtree(staged, ignore_errors=True)
    years.write_handout(staged, with_solutions=True, year=year)
    isolation.make_world_readable(staged)
    execution = supervise.execute(sandbox, str(staged), [], mode="reference", data=dataset.child_paths(),
                                  seed=seed, year=year, student=years.student_functions(year),
                                  slot=supervise.REFERENCE_SLOT)
    problems = [" ".join(filter(None, [f"{case}: {run.status or 'error'}", run.message, _stage_text(run)]))
                for case, run in execution.cases.items() if not run.ended or run.stages or run.status]
    problems += execution.notes
    if problems or not execution.cases:
        shown = problems[:5] + ([f"and {len(problems) - 5} more"] if len(problems) > 5 else [])
        raise ReferenceError("the reference solution failed: " + "; ".join(shown or ["no cases ran"]))
    cases, values = {}, {}
    for case, run in execution.cases.items():
        meta = execution.case_meta.get(case, {})
        cases[case] = {**{key: meta.get(key) for key in supervise.CASE_META},
                       "values": {name: entry["meta"] for name, entry in run.values.items()}}
        for name, entry in run.values.items():
            values[_value_key(case, name)] = entry["value"]
    return cases, values


def _stage_text(run):
    return " ".join(str((stage.get("crash") or {}).get("message", "")) for stage in run.stages)


def publish(sandbox, dataset, seed, year, directory=None):
    """Compute the year's reference and write it to ``directory`` (``reference/YEAR`` by default)."""
    directory = pathlib.Path(directory or published_root() / year)
    print_ = fingerprint(dataset, seed, year)
    cases, values = compute(sandbox, dataset, seed, year)
    _write(directory, print_, cases, values)
    return _read(directory, "published")


def load(sandbox, dataset, seed, year):
    """The year's reference matching the current fingerprint: published, cached, or computed now."""
    print_ = fingerprint(dataset, seed, year)
    published = _read(published_root() / year, "published")
    if published is not None and published.fingerprint == print_:
        return published
    cached_dir = cache_root() / _key(print_)
    cached = _read(cached_dir, "cached")
    if published is not None and published.fingerprint["data"] == print_["data"] \
            and published.fingerprint["seed"] == print_["seed"]:
        changed = [FINGERPRINT_LABELS.get(k, k) for k in print_ if published.fingerprint.get(k) != print_[k]]
        note = f"reference/{year} is stale ({', '.join(changed)} changed since `grader publish`); " \
               "using values recomputed from needle/ in a separate process"
    else:
        note = "expected values for this data and seed were computed from needle/ in a separate process"
    if cached is not None and cached.fingerprint == print_:
        cached.note = note
        return cached
    cases, values = compute(sandbox, dataset, seed, year)
    _write(cached_dir, print_, cases, values)
    computed = _read(cached_dir, "computed")
    computed.note = note
    return computed
