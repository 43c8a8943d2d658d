"""The student kit a course hands out: ``grader student-kit``'s wheel for the course's year, with a public seed.

The kit's expected values sit on every student's disk, so they must never be
those of the seed the course grades with: the kit takes the published seed
(0), whose values ``reference/`` holds, or seed 1 for a course that grades
with seed 0 itself. It is built on the first download (well under a second
for a published seed) and then kept for the life of the process, one per
year and seed.
"""

import pathlib
import tempfile
import threading

from .. import isolation, reference, student_kit
from . import ServiceError

PUBLISHED_SEED, OTHER_SEED = 0, 1

_built = {}
_building = threading.Lock()


def public_seed(course_seed):
    """The seed of the kit of a course that grades with ``course_seed``: never that one."""
    return PUBLISHED_SEED if course_seed != PUBLISHED_SEED else OTHER_SEED


def wheel(year, course_seed):
    """``(file name, bytes)`` of the kit for the course's year; ServiceError when this machine cannot build it."""
    key = (year, public_seed(course_seed))
    with _building:
        if key not in _built:
            try:
                with tempfile.TemporaryDirectory(prefix="needle-grader-kit-") as folder:
                    path = pathlib.Path(student_kit.build_for(folder, *key))
                    _built[key] = (path.name, path.read_bytes())
            except (reference.ReferenceError, isolation.SandboxError, OSError) as exc:
                raise ServiceError(f"the student kit cannot be built on this server: {exc}") from None
        return _built[key]


def file_name():
    return student_kit.wheel_name()
