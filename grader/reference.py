"""Expected values: published in ``reference/YEAR/``, or recomputed from ``needle/``.

A reference is the set of values that a handout year's solution, generated
from needle/, computes for every case of that year, plus each case's grading
metadata (what it grades, weight, timeout, tolerances). It is tied to a
fingerprint: the year, digests of the needle sources and of the code that
generates handouts from them, of the kit (suites and harness), of the data,
the seed, and numpy's random streams (the suites draw their inputs from
them). A reference whose fingerprint differs from the current one is stale
and never graded against: it is recomputed in a child process that runs only
the reference solution (``reference_run.py``), and cached.

A student kit (``bundle.py``) holds one reference and never recomputes: it
trusts the needle digest its values were built with (it has no needle/), checks
every other part of the fingerprint, and says plainly what it cannot do.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from . import bundle

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
REFERENCE_DIR = REPO_ROOT / "reference"   # beside needle/ in a checkout; $NEEDLE_GRADER_REFERENCE elsewhere
MANIFEST, VALUES = "manifest.json", "values.npz"
FORMAT = 1
FINGERPRINT_LABELS = {"needle": "the needle sources", "kit": "the suites", "data": "the data", "seed": "the seed",
                      "rng": "numpy's random streams", "format": "the reference format", "year": "the handout year"}


class ReferenceError(Exception):
    """No reference can be had: the reference solution failed a case (a bug in needle/ or the suites),
    or a student kit was asked for values it does not hold."""


def published_root():
    """Where published references are: a student kit's bundled one; $NEEDLE_GRADER_REFERENCE (an installed
    grader, a Gradescope bundle); else the repository's reference/."""
    if bundle.PRESENT:
        return bundle.REFERENCE
    return pathlib.Path(os.environ.get("NEEDLE_GRADER_REFERENCE") or REFERENCE_DIR)


def cache_root():
    base = os.environ.get("NEEDLE_GRADER_CACHE")
    if base:
        return pathlib.Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(xdg) / "needle-grader"


def _digest_files(paths, root):
    """Names relative to ``root``, and contents."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def kit_files():
    """The files of the kit the child runs (suites and harness), as the reference digests them."""
    kit = PACKAGE_DIR / "kit"
    return [*kit.rglob("*.py"), kit / "suites" / "pytest.ini"]


def _rng_fingerprint():
    rng = np.random.default_rng(12345)
    sample = [rng.standard_normal(4), rng.random(4), rng.integers(0, 1000, 4), rng.uniform(-1, 1, 4)]
    return hashlib.sha256(b"".join(np.asarray(a, dtype=np.float64).tobytes() for a in sample)).hexdigest()[:16]


def _needle_digest():
    import needle

    needle_dir = pathlib.Path(needle.__file__).resolve().parent
    sources = [*needle_dir.glob("*.py"), PACKAGE_DIR / "handout.py", PACKAGE_DIR / "years.py"]
    return _digest_files(sources, REPO_ROOT if REPO_ROOT in needle_dir.parents else needle_dir.parent)


def fingerprint(dataset, seed, year, needle=None):
    """What the values of a year depend on; ``needle``, the needle digest, when it cannot be computed here
    (a student kit has no needle/)."""
    return {
        "format": FORMAT,
        "year": year,
        "needle": needle or _needle_digest(),
        "kit": _digest_files(kit_files(), PACKAGE_DIR),
        "data": dataset.digest,
        "seed": seed,
        "rng": _rng_fingerprint(),
    }


def _key(print_):
    return hashlib.sha256(json.dumps(print_, sort_keys=True).encode()).hexdigest()[:24]


def value_key(case, name):
    return f"{case}|{name}"


@dataclasses.dataclass
class Reference:
    fingerprint: dict
    cases: dict          # case -> {"weight", "timeout", "hint", "values": {name: meta}}
    directory: pathlib.Path
    origin: str          # "published", "cached" or "computed"
    note: str = ""
    _values: dict = None

    def expected(self, case, name):
        """The expected value (read once: an .npz decompresses a member at every read). Only the grader's
        process holds it; no grading child shares that process's memory (see grader/template.py)."""
        if self._values is None:
            with np.load(self.directory / VALUES, allow_pickle=False) as values:
                self._values = {key: values[key] for key in values.files}
        return self._values[value_key(case, name)]

    def case_timeouts(self):
        return {case: meta.get("timeout") for case, meta in self.cases.items()}

    def digest(self):
        return _key(self.fingerprint)


def read(directory, origin):
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not (directory / VALUES).is_file():
        return None
    return Reference(manifest["fingerprint"], manifest["cases"], directory, origin)


def write(directory, print_, cases, values):
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


def load(sandbox, dataset, seed, year):
    """The year's reference matching the current fingerprint: published, cached, or computed now."""
    if bundle.PRESENT:
        return _bundled(dataset, seed, year)
    print_ = fingerprint(dataset, seed, year)
    published = read(published_root() / year, "published")
    if published is not None and published.fingerprint == print_:
        return published
    cached_dir = cache_root() / _key(print_)
    cached = read(cached_dir, "cached")
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
    from . import reference_run   # here only: a student kit has no reference_run, and returned above

    computed = reference_run.compute_into(cached_dir, sandbox, dataset, seed, year)
    computed.note = note
    return computed


def _bundled(dataset, seed, year):
    """A student kit's one reference, if it is the one asked for; else one line saying what the kit cannot do."""
    kit_year, kit_seed = bundle.YEAR, bundle.SEED
    if year != kit_year:
        raise ReferenceError(f"this kit was built for the {kit_year} handout and cannot check a {year} one "
                             f"(--year {kit_year} if your files are {kit_year}'s; else ask your instructor for "
                             f"the {year} kit)")
    if seed != kit_seed:
        raise ReferenceError(f"this kit holds the expected values of seed {kit_seed} only and cannot check with "
                             f"--seed {seed}: only your instructor's grader can draw fresh inputs")
    built = read(published_root() / year, "published")
    if built is None:
        raise ReferenceError(f"this kit's expected values are missing from {published_root() / year}: reinstall it")
    print_ = fingerprint(dataset, seed, year, needle=built.fingerprint["needle"])
    changed = [key for key in print_ if built.fingerprint.get(key) != print_[key]]
    if changed == ["data"] and dataset.source != "generated":
        raise ReferenceError("this kit holds the expected values for its own generated data only and cannot check "
                             "with --data or $NEEDLE_GRADER_DATA")
    if changed:
        raise ReferenceError(f"this kit cannot check here: {', '.join(FINGERPRINT_LABELS[k] for k in changed)} "
                             f"differ from those its expected values were made with (numpy {np.__version__} here); "
                             "reinstall the kit, or ask your instructor for one built with this numpy")
    return built
