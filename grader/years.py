"""The course's hw1 handouts by year: how each is laid out, and which one a submission is built on.

There is one reference solution, ``needle/``. Each year's starter, and its
solution, is generated from it; what differs between years is kept here as
small named pieces:

- the layout: 2022's flat ``python/needle/{autograd,ops}.py``, or from 2023
  the package ``python/needle/ops/ops_mathematic.py`` with ``init/`` and
  ``backend_numpy.py`` beside it;
- the solution blocks a year hands out complete (``given``): no case grades them;
- rewrites of needle's own code where that year's starter behaves differently.

A submission's year is told from what its student does not write: which
course files it has, and the starter's code outside the solution blocks where
the years differ (``tells``), with the solution markers as a weak hint. Every
tell is read the same way from the submission and from each year's starter,
never from a solution, so the years a finding fits follow the starters; the
year the weightiest findings fit is chosen, and the findings that point
elsewhere are kept.
"""

import ast
import dataclasses
import functools
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from . import bundle, handout
from .handout import find_solution_blocks, render_block, rewrite_blocks

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


def no_reflected_sub_or_matmul(sources):
    """From 2024 the Tensor has no __rsub__ or __rmatmul__: ``2 - t`` and ``array @ t`` raise TypeError."""
    for name in ("__rsub__", "__rmatmul__"):
        text = sources["autograd.py"]
        start = text.index(f"    def {name}(self, other):\n")
        end = text.index("\n    def ", start + 1) + 1
        _replace(sources, "autograd.py", text[start:end], "")


def ops_name_their_backend(sources):
    """From 2024 the ops module names its backend."""
    _replace(sources, "ops.py", "import numpy as array_api\n", 'BACKEND = "np"\nimport numpy as array_api\n')


def one_hot_casts_its_labels(sources):
    """From 2024 init.one_hot casts the labels to int32 before the device sees them."""
    _replace(sources, "init.py", "device.one_hot(n, i.numpy(), dtype=dtype)",
             'device.one_hot(n, i.numpy().astype("int32"), dtype=dtype)')


PACKAGE_REWRITES = (ops_one_package_down, backward_seeds_the_tensors_dtype, ops_on_constants_are_constants)
REWRITES_OF_2024 = (no_reflected_sub_or_matmul, ops_name_their_backend, one_hot_casts_its_labels)


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
    "2024": Handout("2024", PACKAGE_LAYOUT, frozenset(),
                    (apps_find_needle_in_python, *PACKAGE_REWRITES, *REWRITES_OF_2024), PACKAGE_FILES),
    "2025": Handout("2025", PACKAGE_LAYOUT, frozenset(),
                    (apps_find_needle_in_python, *PACKAGE_REWRITES, *REWRITES_OF_2024, numpy_returns_a_copy),
                    PACKAGE_FILES),
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


# Telling a submission's year. Each tell is read the same way from the submission's files and from
# every year's starter (never from a solution): a finding fits the years whose starter shows the same.

LAYOUT, STARTER_CODE, MARKERS = 3, 2, 1
"""What a finding weighs: what students change least weighs most. Where the files are; the starter's
code outside the solution blocks, which students rarely touch; the solution markers, which many delete."""


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A submitted file as the tells read it."""

    tree: ast.Module
    functions: FrozenSet[str]        # qualified names: "Tensor.numpy", "softmax_loss"
    blocks: FrozenSet[str]           # the functions holding solution markers (empty when they do not pair up)


def _parse(text, path):
    try:
        tree = handout.parse(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):   # a file that does not parse shows nothing
        return None
    functions = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    functions |= {f"{cls.name}.{node.name}" for cls in tree.body if isinstance(cls, ast.ClassDef)
                  for node in cls.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    try:
        blocks = {block.function for block in find_solution_blocks(text, path)}
    except (ValueError, RecursionError):
        blocks = set()
    return Parsed(tree, frozenset(functions), frozenset(blocks))


def _class(tree, name):
    return next((node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name), None)


def _method(tree, cls, name):
    found = _class(tree, cls)
    return next((node for node in found.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name == name), None) if found else None


def _calls(node, *attributes):
    """Whether ``node`` calls a method or function named one of ``attributes`` (``x.copy()``, ``numpy.array(x)``)."""
    return any(isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in attributes
               for call in ast.walk(node))


def numpy_copies(parsed):
    """2025's Tensor.numpy() returns a copy; before, the data itself."""
    method = _method(parsed.tree, "Tensor", "numpy")
    if method is None:
        return None
    return "Tensor.numpy() returns a copy" if _calls(method, "array", "copy") else "Tensor.numpy() returns its data"


def reflected_operators(parsed):
    """Until 2023 the Tensor defines __rsub__ and __rmatmul__; 2024 drops them."""
    tensor = _class(parsed.tree, "Tensor")
    if tensor is None:
        return None
    defined = {node.name for node in tensor.body if isinstance(node, ast.FunctionDef)}
    defined |= {target.id for node in tensor.body if isinstance(node, ast.Assign) for target in node.targets
                if isinstance(target, ast.Name)}
    present = [name for name in ("__rsub__", "__rmatmul__") if name in defined]
    return f"the Tensor defines {' and '.join(present)}" if present else "the Tensor has no __rsub__ or __rmatmul__"


def devices_home(parsed):
    """2022 defines the devices in autograd.py; from 2023 it imports them from backend_numpy.py."""
    if _class(parsed.tree, "CPUDevice") is not None:
        return "autograd.py defines the devices"
    if any(isinstance(node, ast.ImportFrom) and (node.module or "").endswith("backend_numpy")
           for node in parsed.tree.body):
        return "autograd.py imports the devices from backend_numpy"
    return None


def backward_seed(parsed):
    """2022's backward() starts from numpy's float64 ones; from 2023 from init.ones of the tensor's dtype."""
    method = _method(parsed.tree, "Tensor", "backward")
    for node in ast.walk(method) if method else ():
        if isinstance(node, ast.Attribute) and node.attr == "ones":
            owner = getattr(node.value, "id", getattr(node.value, "attr", None))
            if owner == "init":
                return "backward() starts from init.ones"
            if owner in ("numpy", "np"):
                return "backward() starts from numpy.ones"
    return None


def constants_detached(parsed):
    """From 2023 an op on tensors that need no gradient makes a constant (Tensor.make_from_op detaches)."""
    method = _method(parsed.tree, "Tensor", "make_from_op") or _method(parsed.tree, "Value", "make_from_op")
    if method is None:
        return None
    return "an op on constants detaches" if _calls(method, "detach") else "an op on constants keeps its graph"


def package_imports_init(parsed):
    """From 2023 needle/__init__.py imports needle.init."""
    imports = any(isinstance(node, ast.ImportFrom) and node.level and
                  (node.module == "init" or node.module is None and any(name.name == "init" for name in node.names))
                  for node in parsed.tree.body)
    return "needle imports needle.init" if imports else "needle does not import needle.init"


def ops_backend(parsed):
    """From 2024 the ops module names its backend (BACKEND = "np")."""
    names = any(isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "BACKEND"
                                                     for target in node.targets) for node in parsed.tree.body)
    return "the ops set BACKEND" if names else "the ops do not set BACKEND"


def one_hot_cast(parsed):
    """From 2024 init.one_hot casts the labels (astype) before the device sees them."""
    function = next((node for node in parsed.tree.body if isinstance(node, ast.FunctionDef) and node.name == "one_hot"),
                    None)
    if function is None:
        return None
    return "one_hot casts the labels" if _calls(function, "astype") else "one_hot passes the labels on as they are"


def markers_of(function, parsed):
    """Whether ``function`` is a student's block (between markers) or given complete (without).

    A file with no markers left says nothing: students delete them."""
    if not parsed.blocks or function not in parsed.functions:
        return None
    if function in parsed.blocks:
        return f"{function} between solution markers"
    return f"{function} without solution markers, where the file keeps others"


@dataclasses.dataclass(frozen=True)
class Tell:
    """One thing the starters differ in, read from a needle module wherever the year's layout puts it."""

    module: str
    read: Callable[[Parsed], Optional[str]]   # what the file shows, or None when it shows nothing
    weight: int


CODE_TELLS = (
    Tell("autograd.py", numpy_copies, STARTER_CODE),
    Tell("autograd.py", reflected_operators, STARTER_CODE),
    Tell("autograd.py", devices_home, STARTER_CODE),
    Tell("autograd.py", backward_seed, STARTER_CODE),
    Tell("autograd.py", constants_detached, STARTER_CODE),
    Tell("__init__.py", package_imports_init, STARTER_CODE),
    Tell("ops.py", ops_backend, STARTER_CODE),
    Tell("init.py", one_hot_cast, STARTER_CODE),
)


@functools.lru_cache(maxsize=None)
def _starter(year):
    return course_sources(year)


def _starter_parsed(year, module):
    path = HANDOUTS[year].layout.get(module)
    return _parse(_starter(year)[path], path) if path else None


@functools.lru_cache(maxsize=None)
def tells() -> Tuple[Tell, ...]:
    """The fixed tells, and one for the markers of each function that some year's starter gives complete."""
    marked = {}   # (module, function) -> {year: between markers in that year's starter}
    for year in YEARS:
        for module in HANDOUTS[year].layout:
            parsed = _starter_parsed(year, module)
            for function in parsed.functions:
                marked.setdefault((module, function), {})[year] = function in parsed.blocks
    differing = [key for key, by_year in sorted(marked.items()) if len(set(by_year.values())) > 1]
    return CODE_TELLS + tuple(Tell(module, functools.partial(markers_of, function), MARKERS)
                              for module, function in differing)


@functools.lru_cache(maxsize=None)
def starter_reading(tell: Tell, year: str) -> Optional[str]:
    """What ``tell`` reads in that year's starter."""
    parsed = _starter_parsed(year, tell.module)
    return tell.read(parsed) if parsed else None


@dataclasses.dataclass(frozen=True)
class Finding:
    """Something a submission's files show, and the years whose starter shows the same."""

    what: str
    where: str
    years: FrozenSet[str]
    weight: int

    def __str__(self):
        return f"{self.what} ({self.where}: {' or '.join(sorted(self.years))})"


def _layout_findings(sources):
    """Course files only some years have, grouped by the years that have them."""
    groups = {}
    for path in sorted(sources):
        having = frozenset(year for year in YEARS if path in _starter(year))
        if having and having != frozenset(YEARS):
            groups.setdefault(having, []).append(path)
    return [Finding("the package layout" if having <= PACKAGE_YEARS else "the flat layout", ", ".join(paths), having,
                    LAYOUT) for having, paths in groups.items()]


def findings(sources: Dict[str, str]) -> List[Finding]:
    """Everything in a submission's files (course path -> text) that tells handout years apart."""
    found = _layout_findings(sources)
    parsed = {}
    for tell in tells():
        for path in sorted({handout.layout[tell.module] for handout in HANDOUTS.values()
                            if tell.module in handout.layout}):
            if path not in sources:
                continue
            if path not in parsed:
                parsed[path] = _parse(sources[path], path)
            what = tell.read(parsed[path]) if parsed[path] else None
            fits = frozenset(year for year in YEARS if what is not None and starter_reading(tell, year) == what)
            if fits and fits != frozenset(YEARS):   # a finding no starter shows is the student's own change
                found.append(Finding(what, path, fits, tell.weight))
    return found


@dataclasses.dataclass(frozen=True)
class Detection:
    """The year a submission is graded as, and why: what its files show, or ``--year``."""

    year: str
    findings: Tuple[Finding, ...] = ()
    given: bool = False

    def disagreeing(self):
        return [finding for finding in self.findings if self.year not in finding.years]

    def warning(self):
        """One line when some findings point elsewhere, else None."""
        against = self.disagreeing()
        if not against:
            return None
        return f"graded as the {self.year} handout, which its weightier findings show; " \
               f"disagreeing: {'; '.join(map(str, against))}"

    def as_json(self):
        return {"by": "--year" if self.given else "files", "warning": self.warning(),
                "findings": [{"what": finding.what, "where": finding.where, "years": sorted(finding.years),
                              "weight": finding.weight, "agrees": self.year in finding.years}
                             for finding in self.findings]}


def detect(sources: Dict[str, str]) -> Detection:
    """The year whose starter a submission's files (course path -> text) are built on, and why.

    Each year gathers the weight of the findings it fits; the heaviest wins,
    and findings that point elsewhere are kept as disagreeing. Raises
    YearError, naming what was found, when nothing tells the years apart or
    the heaviest years tie.
    """
    return weigh(findings(sources))


def weigh(found: List[Finding]) -> Detection:
    """``detect`` for findings already made (``findings``)."""
    support = {year: sum(finding.weight for finding in found if year in finding.years) for year in YEARS}
    leaders = [year for year in YEARS if support[year] == max(support.values())]
    if len(leaders) == 1:
        return Detection(leaders[0], tuple(found))
    seen = "; ".join(map(str, found)) or "none of the needle files that tell the years apart"
    raise YearError(f"cannot tell which handout year it is built on ({' or '.join(leaders)}): found {seen}; "
                    "pass --year")
