"""What a student kit carries in place of needle/, bundled when ``grader student-kit`` builds it.

The grader generates each year's starter code and the list of functions students
write from needle/ (``years.py``), and computes expected values with it. A student
kit (``needle-check``) has no needle/. Instead the folder ``bundled/`` beside this
module holds, from build time:

- ``kit.json``: the year and seed the kit was built for; every year's starter files
  (what students start from; telling a submission's year, and filling in the files
  it left out, need them) and each year's student functions, by name;
- ``reference/YEAR/``: the expected values of that one year and seed.

In the grader itself the folder is absent and ``PRESENT`` is false.
"""

import functools
import json
import pathlib

FOLDER = "bundled"
KIT_FILE = f"{FOLDER}/kit.json"
REFERENCE_FOLDER = f"{FOLDER}/reference"
PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
REFERENCE = PACKAGE_DIR / REFERENCE_FOLDER
PRESENT = (PACKAGE_DIR / KIT_FILE).is_file()


@functools.lru_cache(maxsize=None)
def _contents():
    return json.loads((PACKAGE_DIR / KIT_FILE).read_text(encoding="utf-8"))


# What a kit was built for; the commands' defaults there. None in the grader.
YEAR, SEED = (_contents()["year"], _contents()["seed"]) if PRESENT else (None, None)


def course_sources(year, with_solutions=False):
    """course path -> text of that year's starter."""
    if with_solutions:
        raise RuntimeError("a student kit holds no solution")
    return dict(_contents()["handouts"][year]["starters"])


def student_functions(year):
    """``(module, function)`` of every function a student writes in that year's handout."""
    return tuple(tuple(pair) for pair in _contents()["handouts"][year]["student_functions"])


def kit_json(year, seed, handouts):
    """The text of ``kit.json``; ``handouts``: year -> ``(starters, student functions)``."""
    return json.dumps({"year": year, "seed": seed,
                       "handouts": {one: {"starters": starters, "student_functions": [list(pair) for pair in functions]}
                                    for one, (starters, functions) in handouts.items()}},
                      indent=1, sort_keys=True) + "\n"
