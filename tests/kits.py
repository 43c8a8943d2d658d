"""Installing a student kit where no grader is: a fresh virtual environment, with no network.

The environment is made without pip and without the interpreter's own
site-packages, so neither needle-grader nor needle can be imported there. The
kit's dependencies are not downloaded (that takes most of a minute): the
distributions it declares, and theirs, are hard-linked in from the
environment running the tests, and pip then installs the wheel with
``--no-index``, so a dependency the wheel declares but the environment lacks
fails the install.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from grader import student_kit


def _distributions(requirements):
    """The installed distributions the requirements need, theirs included (markers evaluated here)."""
    found, waiting = {}, [Requirement(text) for text in requirements]
    while waiting:
        requirement = waiting.pop()
        dist = importlib.metadata.distribution(requirement.name)
        if dist.metadata["Name"].lower() not in found:
            found[dist.metadata["Name"].lower()] = dist
            waiting += [needed for needed in map(Requirement, dist.requires or [])
                        if needed.marker is None or needed.marker.evaluate({"extra": ""})]
    return found.values()


def _link_tree(source, target):
    """Hard links where the file system allows (instant), copies elsewhere."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if os.path.isdir(source):
        shutil.copytree(source, target, copy_function=link, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        link(source, target)


def installed(wheel):
    """``(folder, python, needle-check)`` of a new environment holding the kit and its dependencies alone;
    the caller removes ``folder``."""
    folder = Path(tempfile.mkdtemp(prefix="needle-check-"))
    folder.chmod(0o755)   # not pytest's private tmp: the grading child, under its own uid, runs this interpreter
    environment = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(environment)], check=True)
    python = environment / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    for dist in _distributions(student_kit.DEPENDENCIES):
        if dist.files is None:
            shutil.rmtree(folder)
            pytest.skip(f"{dist.metadata['Name']} was installed without a file list: cannot copy it into a venv")
        for top in {path.parts[0] for path in dist.files} - {"..", "__pycache__"}:
            _link_tree(dist.locate_file(top), site / top)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True, timeout=120)
    return folder, python, environment / "bin" / "needle-check"


def student_env():
    """As a student's shell has it: no path into this checkout, no grading data of the instructor's."""
    return {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "NEEDLE_GRADER_DATA")}
