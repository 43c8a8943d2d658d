"""The course's hw1 handouts by year: how each is laid out, and which one a submission is built on.

There is one reference solution, ``needle/``. Each year's starter, and its
solution, is generated from it; what differs between years is kept here as
small named pieces:

- the layout: 2022's flat ``python/needle/{autograd,ops}.py``, or from 2023
  the package ``python/needle/ops/ops_mathematic.py`` with ``init/`` and
  ``backend_numpy.py`` beside it;
- the solution blocks a year hands out complete (``given``): no case grades them;
- rewrites of needle's own code where that year's starter behaves differently.

A submission's year is read from its files: the layout, then the code
outside the solution blocks that tells the package years apart.
"""

import dataclasses
import functools
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Tuple

from . import bundle
from .handout import BEGIN_MARKER, find_solution_blocks, render_block, rewrite_blocks

FLAT_LAYOUT = {  # needle module -> path in the course repository
    "__init__.py": "python/needle/__init__.py",
    "autograd.py": "python/needle/autograd.py",
    "ops.py": "python/needle/ops.py",
    "simple_ml.py": "apps/simple_ml.py",
}
PACKAGE_LAYOUT = {
    "__init__.py": "python/needle/__init__.py",
    "autograd.py": "python/needle/autograd.py",
    "backend_numpy.py": "python/needle/backend_numpy.py",
    "init.py": "python/needle/init/init_basic.py",
    "ops.py": "python/needle/ops/ops_mathematic.py",
    "simple_ml.py": "apps/simple_ml.py",
}
PACKAGE_FILES = {  # the package's own __init__ files, which hold no code of needle's
    "python/needle/init/__init__.py": "from .init_basic import *\n",
    "python/needle/ops/__init__.py": "from .ops_mathematic import *\n",
}


class YearError(ValueError):
    """The handout year of a submission cannot be told from its files."""


def _replace(sources, module, old, new):
    text = sources[module]
    if text.count(old) != 1:
        raise ValueError(f"needle/{module} no longer holds exactly one {old.strip()!r}: update grader/years.py")
    sources[module] = text.replace(old, new)


def apps_find_needle_in_python(sources):
    """apps/simple_ml.py runs from the repository root and finds needle in python/."""
    _replace(sources, "simple_ml.py", "import needle as ndl\n", 'import sys\nsys.path.append("python/")\nimport needle as ndl\n')


def devices_in_autograd(sources):
    """2022 defines the devices in autograd.py: backend_numpy.py's code takes the place of its import."""
    backend = sources.pop("backend_numpy.py")
    _replace(sources, "autograd.py", "from .backend_numpy import Device, cpu, all_devices\n",
             backend[backend.index("class Device"):])


def no_init_package(sources):
    """2022 has no needle.init."""
    del sources["init.py"]
    _replace(sources, "__init__.py", "from .init import ones, zeros, zeros_like, ones_like\nfrom . import init\n", "")


def ops_one_package_down(sources):
    """From 2023 the ops live in needle/ops/ops_mathematic.py."""
    _replace(sources, "ops.py", "from .autograd import NDArray\nfrom .autograd import Op, Tensor, Value, TensorOp\n"
             "from .autograd import TensorTuple, TensorTupleOp\n",
             "from ..autograd import NDArray\nfrom ..autograd import Op, Tensor, Value, TensorOp\n"
             "from ..autograd import TensorTuple, TensorTupleOp\n")


def backward_seeds_the_tensors_dtype(sources):
    """From 2023 backward() starts from ones of the tensor's own dtype (float64 ones before)."""
    _replace(sources, "autograd.py",
             "            # as in the course's starter: float64 ones, whatever this tensor's dtype\n"
             "            out_grad = Tensor(numpy.ones(self.shape))\n",
             "            out_grad = needle.init.ones(*self.shape, dtype=self.dtype, device=self.device)\n")


def ops_on_constants_are_constants(sources):
    """From 2023 an op whose inputs need no gradient makes a constant, with no graph behind it."""
    _replace(sources, "autograd.py",
             "        if not LAZY_MODE:\n            value.realize_cached_data()\n        return value\n",
             "        if not LAZY_MODE:\n            if not value.requires_grad:\n                return value.detach()\n"
             "            value.realize_cached_data()\n        return value\n")


def numpy_returns_a_copy(sources):
    """2025's Tensor.numpy() returns a copy of the data."""
    _replace(sources, "autograd.py",
             "        # the backend is numpy, so this is the data itself, not a copy\n"
             "        return self.realize_cached_data()\n",
             "        return numpy.array(self.realize_cached_data())\n")


PACKAGE_REWRITES = (ops_one_package_down, backward_seeds_the_tensors_dtype, ops_on_constants_are_constants)


@dataclasses.dataclass(frozen=True)
class Handout:
    """One year's starter code, as generated from needle/."""

    year: str
    layout: Dict[str, str]
    given: FrozenSet[str]   # functions needle marks as solution blocks that this year hands out complete
    rewrites: Tuple[Callable, ...]
    extra_files: Dict[str, str] = dataclasses.field(default_factory=dict)


EWISE_POW = frozenset({"EWisePow.compute", "EWisePow.gradient"})
HANDOUTS = {
    # 2022 gives BroadcastTo.compute complete, and has no EWisePow (a complete one does no harm)
    "2022": Handout("2022", FLAT_LAYOUT, frozenset({"BroadcastTo.compute"}) | EWISE_POW,
                    (apps_find_needle_in_python, devices_in_autograd, no_init_package)),
    # 2023 gives EWisePow complete (the course's own gradient raises on Tensors; this one works)
    "2023": Handout("2023", PACKAGE_LAYOUT, EWISE_POW, (apps_find_needle_in_python, *PACKAGE_REWRITES),
                    PACKAGE_FILES),
    "2024": Handout("2024", PACKAGE_LAYOUT, frozenset(), (apps_find_needle_in_python, *PACKAGE_REWRITES),
                    PACKAGE_FILES),
    "2025": Handout("2025", PACKAGE_LAYOUT, frozenset(),
                    (apps_find_needle_in_python, *PACKAGE_REWRITES, numpy_returns_a_copy), PACKAGE_FILES),
}
YEARS = tuple(HANDOUTS)
PACKAGE_YEARS = frozenset(year for year, handout in HANDOUTS.items() if handout.layout is PACKAGE_LAYOUT)
DEFAULT_YEAR = "2022"   # the homework's (the seed's)


def _needle_dir() -> Path:
    import needle

    return Path(needle.__file__).resolve().parent


def reference_sources(year: str = DEFAULT_YEAR) -> Dict[str, str]:
    """course path -> text of that year's reference solution, every solution block marked."""
    handout = HANDOUTS[year]
    package = _needle_dir()
    sources = {path.name: path.read_text(encoding="utf-8") for path in sorted(package.glob("*.py"))}
    for rewrite in handout.rewrites:
        rewrite(sources)
    missing = set(sources) ^ set(handout.layout)
    if missing:
        raise ValueError(f"needle/ and the {year} layout disagree about {', '.join(sorted(missing))}")
    return {handout.layout[module]: text for module, text in sources.items()}


def course_sources(year: str = DEFAULT_YEAR, with_solutions: bool = False) -> Dict[str, str]:
    """course path -> text of that year's starter or, with_solutions, of its solution.

    The blocks the year's starter gives complete keep their body and lose their markers."""
    return dict(_course_sources(year, with_solutions))


@functools.lru_cache(maxsize=None)
def _course_sources(year, with_solutions):
    """Generated once per process: staging every submission of a batch needs its year's starter.

    A student kit has them bundled, and no solution."""
    if bundle.PRESENT:
        return tuple(bundle.course_sources(year, with_solutions).items())
    handout = HANDOUTS[year]
    sources = {course_path: rewrite_blocks(
        text, course_path, lambda block, lines: render_block(block, lines, handout.given, with_solutions))
        for course_path, text in reference_sources(year).items()}
    return tuple({**sources, **handout.extra_files}.items())


def course_module(course_path: str) -> str:
    """The module a course file is imported as: python/needle/ops.py -> needle.ops."""
    parts = course_path[:-len(".py")].split("/")[1:]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def student_functions(year: str = DEFAULT_YEAR) -> Tuple[Tuple[str, str], ...]:
    """``(module, function)`` of every function a student writes in that year's handout."""
    if bundle.PRESENT:
        return bundle.student_functions(year)
    functions = []
    for course_path, text in course_sources(year, with_solutions=True).items():
        functions.extend((course_module(course_path), block.function)
                         for block in find_solution_blocks(text, course_path))
    return tuple(functions)


def write_handout(out_dir, with_solutions: bool = False, overwrite: bool = False,
                  year: str = DEFAULT_YEAR) -> List[Path]:
    """Write that year's handout (or, with_solutions, its solution) under out_dir; return the paths written.

    Refuses, with FileExistsError, to replace any existing file unless
    overwrite is true; in that case nothing is written at all."""
    out_dir = Path(out_dir)
    files = {out_dir / course_path: text for course_path, text in course_sources(year, with_solutions).items()}
    if not overwrite:
        existing = [str(path) for path in files if path.exists()]
        if existing:
            raise FileExistsError(f"refusing to overwrite existing file(s): {', '.join(existing)}; nothing was written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _signs(sources: Dict[str, str]):
    """``(what was found, the years it fits)`` for each telling sign in a submission's files."""
    signs = []
    if "python/needle/ops.py" in sources:
        signs.append(("python/needle/ops.py (the flat layout of 2022)", frozenset({"2022"})))
    package = sorted(path for path in sources if path in PACKAGE_LAYOUT.values() and path not in FLAT_LAYOUT.values()
                     or path in PACKAGE_FILES)
    if package:
        signs.append((f"{package[0]} (the package layout of 2023 on)", PACKAGE_YEARS))
    ops = sources.get("python/needle/ops/ops_mathematic.py")
    if ops is not None and "class EWisePow" in ops:
        own = ops.split("class EWisePow", 1)[1].split("\nclass ", 1)[0]
        if BEGIN_MARKER in own:
            signs.append(("EWisePow with solution blocks (2024 on)", frozenset({"2024", "2025"})))
        else:
            signs.append(("EWisePow given complete (2023)", frozenset({"2023"})))
    autograd = sources.get("python/needle/autograd.py")
    if autograd is not None and "def numpy(self" in autograd:
        body = autograd.split("def numpy(self", 1)[1].split("\n    def ", 1)[0]
        if "numpy.array(" in body or ".copy()" in body:
            signs.append(("Tensor.numpy() returning a copy (2025)", frozenset({"2025"})))
        else:
            signs.append(("Tensor.numpy() returning the data itself (before 2025)", frozenset(YEARS) - {"2025"}))
    return signs


def detect(sources: Dict[str, str]) -> str:
    """The year whose starter a submission's files (course path -> text) are built on.

    Raises YearError, naming what was found, when no year or more than one fits.
    """
    candidates, found = set(YEARS), []
    for what, years in _signs(sources):
        candidates &= years
        found.append(what)
    if len(candidates) == 1:
        return candidates.pop()
    seen = "; ".join(found) or "none of the needle files that tell the years apart"
    if not candidates:
        raise YearError(f"its files belong to different handout years ({seen}); pass --year")
    raise YearError(f"cannot tell which handout year it is built on ({' or '.join(sorted(candidates))}): "
                    f"found {seen}; pass --year")
