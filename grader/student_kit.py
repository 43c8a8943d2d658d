"""The student kit: a wheel whose ``needle-check PATH`` is ``grader check``, without the solution.

A course cannot hand out ``grader check`` as it is: the grader holds needle/,
the complete solution. The kit holds the grader's own modules that grading
needs (staging, confinement, the suites, comparing, scoring, the table) and
``grader submit``'s client of a course's server (``serve/client.py``), under
the package name ``needle_check`` so that it never shadows an installed grader,
and a bundle (``bundle.py``) of what the grader would otherwise take from
needle/: every year's starter, the functions students write, and the expected
values of one year and one seed. Nothing that computes expected values is in
it (``reference_run.py`` stays out), and no line of needle/.

The wheel is written here directly (it is a zip with a few metadata files), so
building needs neither a network nor a build backend.
"""

import base64
import hashlib
import os
import pathlib
import zipfile

from . import __version__, bundle, reference, years

DISTRIBUTION = "needle-grader-check"
PACKAGE = "needle_check"
MODULES = ("__init__.py", "bundle.py", "check.py", "compare.py", "datasets.py", "grading.py", "handout.py",
           "isolation.py", "options.py", "reference.py", "results.py", "scores.py", "submission.py", "supervise.py",
           "template.py", "years.py", "serve/__init__.py", "serve/client.py")
DEPENDENCIES = ("numpy>=1.24", "click>=8.1", "pytest>=7.4", "pytest-json-report>=1.5")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)   # the same sources give the same wheel, byte for byte


def wheel_name():
    return f"{DISTRIBUTION.replace('-', '_')}-{__version__}-py3-none-any.whl"


def package_files(ref):
    """path in the wheel -> bytes: the grader's modules, the child's kit, and the bundle for ``ref``."""
    files = {f"{PACKAGE}/{name}": (reference.PACKAGE_DIR / name).read_bytes() for name in MODULES}
    for path in sorted(reference.kit_files()):
        files[f"{PACKAGE}/{path.relative_to(reference.PACKAGE_DIR).as_posix()}"] = path.read_bytes()
    year, seed = ref.fingerprint["year"], ref.fingerprint["seed"]
    handouts = {one: (years.course_sources(one), years.student_functions(one)) for one in years.YEARS}
    files[f"{PACKAGE}/{bundle.KIT_FILE}"] = bundle.kit_json(year, seed, handouts).encode()
    for name in (reference.MANIFEST, reference.VALUES):
        files[f"{PACKAGE}/{bundle.REFERENCE_FOLDER}/{year}/{name}"] = (ref.directory / name).read_bytes()
    return files


def _metadata(year, seed):
    lines = ["Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {__version__}",
             f"Summary: needle-check: check your needle homework (CMU 10-714 hw1, the {year} handout) before you "
             "hand it in", "Requires-Python: >=3.10", *(f"Requires-Dist: {dependency}" for dependency in DEPENDENCIES),
             "", f"Built by needle-grader {__version__} for the {year} handout, with the inputs of seed {seed}.", ""]
    return "\n".join(lines)


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_for(out_dir, year, seed):
    """Write the kit of ``year`` and ``seed`` on generated data into ``out_dir``; return the wheel's path."""
    from . import datasets, grading, isolation

    workspace = isolation.Workspace()
    try:
        sandbox = grading.detect_sandbox(workspace, isolation.Limits())
        return build(out_dir, reference.load(sandbox, datasets.generated(workspace.data_dir), seed, year))
    finally:
        workspace.close()


def build(out_dir, ref):
    """Write the kit for the reference ``ref`` (its year and seed) into ``out_dir``; return the wheel's path."""
    dist_info = f"{DISTRIBUTION.replace('-', '_')}-{__version__}.dist-info"
    files = package_files(ref)
    files.update({
        f"{dist_info}/METADATA": _metadata(ref.fingerprint["year"], ref.fingerprint["seed"]).encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: needle-grader {__version__}\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n".encode(),
        f"{dist_info}/entry_points.txt": f"[console_scripts]\nneedle-check = {PACKAGE}.check:main\n".encode(),
        f"{dist_info}/top_level.txt": f"{PACKAGE}\n".encode(),
    })
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data in files.items()]
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,", ""]).encode()
    out_path = pathlib.Path(out_dir) / wheel_name()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(f".{out_path.name}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    os.replace(temporary, out_path)
    return out_path
