"""grader.handout and grader.years: solution blocks, starter code, each year's layout."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.handout import fill_solutions, find_solution_blocks, strip_solutions
from grader.years import FLAT_LAYOUT as COURSE_LAYOUT
from grader.years import course_sources, reference_sources, student_functions, write_handout

REPO_ROOT = Path(__file__).resolve().parent.parent

STUDENT_FUNCTIONS = {
    "python/needle/__init__.py": [],
    "python/needle/autograd.py": ["compute_gradient_of_variables", "find_topo_sort", "topo_sort_dfs"],
    "python/needle/ops.py": [
        "%s.%s" % (op, method)
        for op in ["PowerScalar", "EWisePow", "EWiseDiv", "DivScalar", "Transpose", "Reshape", "BroadcastTo",
                   "Summation", "MatMul", "Negate", "Log", "Exp", "ReLU"]
        for method in ("compute", "gradient")
    ],
    "apps/simple_ml.py": ["parse_mnist", "softmax_loss", "nn_epoch"],
}

# A module whose imports and sys.path are those of a fresh interpreter that
# sees only the handout (and, where asked, the repository for grader.kit).
ISOLATED = [sys.executable, "-I", "-c"]


def run_isolated(script, out_dir, *args, extra_path=()):
    prelude = "import sys; sys.path[:0] = %r\n" % [str(out_dir / "python"), str(out_dir / "apps"), *extra_path]
    result = subprocess.run(
        ISOLATED + [prelude + textwrap.dedent(script), str(out_dir), *args],
        cwd=out_dir, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# ---------------------------------------------------------- marker parsing


SAMPLE = '''\
class Op:
    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        b = a + 1
        return b
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        x = 1
        ### BEGIN YOUR SOLUTION
        return out_grad
        ### END YOUR SOLUTION


def helper(x):
    def inner(y):
        ### BEGIN YOUR SOLUTION
        return y
        ### END YOUR SOLUTION
    return inner(x)
'''


def test_find_solution_blocks_of_a_sample():
    blocks = find_solution_blocks(SAMPLE, "python/needle/ops.py")
    assert [(b.function, b.start, b.end) for b in blocks] == [
        ("Op.compute", 3, 6), ("Op.gradient", 10, 12), ("helper.<locals>.inner", 17, 19),
    ]
    assert blocks[0].text == "        b = a + 1\n        return b\n"
    assert blocks[0].indent == " " * 8 and blocks[0].file == "python/needle/ops.py"


def test_strip_solutions_of_a_sample():
    stripped = strip_solutions(SAMPLE)
    assert stripped == SAMPLE.replace(
        "        b = a + 1\n        return b\n", "        raise NotImplementedError()\n"
    ).replace(
        "        ### BEGIN YOUR SOLUTION\n        return out_grad\n",
        "        ### BEGIN YOUR SOLUTION\n        raise NotImplementedError()\n",
    ).replace(
        "        ### BEGIN YOUR SOLUTION\n        return y\n", "        ### BEGIN YOUR SOLUTION\n        raise NotImplementedError()\n"
    )
    # stripping twice changes nothing, and the blocks are still where they were
    assert strip_solutions(stripped) == stripped
    assert [b.function for b in find_solution_blocks(stripped, "x.py")] == [
        "Op.compute", "Op.gradient", "helper.<locals>.inner",
    ]


@pytest.mark.parametrize(
    "source, problem",
    [
        ("def f():\n    ### BEGIN YOUR SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    ### END YOUR SOLUTION\n", "without a matching"),
        (
            "def f():\n    ### BEGIN YOUR SOLUTION\n    ### BEGIN YOUR SOLUTION\n    return 1\n"
            "    ### END YOUR SOLUTION\n    ### END YOUR SOLUTION\n",
            "nested",
        ),
        ("def f():\n    ### BEGIN YOUR SOLUTION\n    return 1\n  ### END YOUR SOLUTION\n", "indented differently"),
        ("def f():\n    x = 1  ### BEGIN YOUR SOLUTION\n    return x\n", "stand alone"),
    ],
)
def test_bad_markers_raise_value_error(source, problem):
    for call in (lambda: strip_solutions(source), lambda: find_solution_blocks(source, "apps/simple_ml.py")):
        with pytest.raises(ValueError, match=problem):
            call()


def test_bad_marker_error_names_file_and_line():
    with pytest.raises(ValueError, match=r"apps/simple_ml.py:2:"):
        find_solution_blocks("def f():\n    ### BEGIN YOUR SOLUTION\n    return 1\n", "apps/simple_ml.py")


def test_block_outside_a_function_is_an_error():
    source = "### BEGIN YOUR SOLUTION\nx = 1\n### END YOUR SOLUTION\n"
    for call in (lambda: strip_solutions(source, "x.py"), lambda: find_solution_blocks(source, "x.py")):
        with pytest.raises(ValueError, match="x.py:1: solution block is not inside a function"):
            call()


def test_a_students_warnings_are_not_the_graders():
    """An invalid escape warns as the file is parsed (SyntaxWarning from 3.12, DeprecationWarning before): the
    grader neither prints it nor, where warnings are errors, fails to read the file."""
    import warnings

    from grader.handout import function_at

    source = 'PATTERN = "\\d+"\n\n\ndef parse_mnist():\n    ### BEGIN YOUR SOLUTION\n    pass\n    ### END YOUR SOLUTION\n'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert function_at(source, 6) == "parse_mnist"
        assert [block.function for block in find_solution_blocks(source, "apps/simple_ml.py")] == ["parse_mnist"]


def test_unparsable_source_is_a_value_error():
    with pytest.raises(ValueError, match="does not parse"):
        find_solution_blocks("def f(:\n    ### BEGIN YOUR SOLUTION\n    ### END YOUR SOLUTION\n", "x.py")


# ------------------------------------------------------ the reference itself


def test_reference_sources_in_course_layout():
    sources = reference_sources()
    assert sorted(sources) == sorted(COURSE_LAYOUT.values())
    assert set(COURSE_LAYOUT) == {"__init__.py", "autograd.py", "ops.py", "simple_ml.py"}


def test_reference_blocks_are_the_student_functions():
    for course_path, text in reference_sources().items():
        blocks = find_solution_blocks(text, course_path)
        assert [b.function for b in blocks] == STUDENT_FUNCTIONS[course_path], course_path
        assert all(b.text.strip() for b in blocks), "empty block in the reference"


def test_given_code_has_no_solution_blocks():
    ops = reference_sources()["python/needle/ops.py"]
    functions = {b.function for b in find_solution_blocks(ops, "python/needle/ops.py")}
    for given in ("EWiseAdd", "AddScalar", "EWiseMul", "MulScalar", "TupleGetItem", "MakeTensorTuple"):
        assert not any(f.startswith(given + ".") for f in functions)


def test_simple_ml_gets_the_course_sys_path_setup():
    text = reference_sources()["apps/simple_ml.py"]
    lines = text.splitlines()
    at = lines.index("import needle as ndl")
    assert lines[at - 2:at] == ["import sys", 'sys.path.append("python/")']
    # needle's own copy has no such line
    assert "sys.path" not in (REPO_ROOT / "needle" / "simple_ml.py").read_text()


# ------------------------------------------------------------ write_handout


def test_write_handout_layout_and_overwrite(tmp_path):
    written = write_handout(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in written) == sorted(COURSE_LAYOUT.values())
    ops = (tmp_path / "python/needle/ops.py").read_text()
    assert "raise NotImplementedError()" in ops and "return a / b" not in ops
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_handout(tmp_path, with_solutions=True)
    assert "return a / b" not in (tmp_path / "python/needle/ops.py").read_text()  # nothing was written
    write_handout(tmp_path, with_solutions=True, overwrite=True)
    assert (tmp_path / "python/needle/ops.py").read_text() == course_sources(with_solutions=True)["python/needle/ops.py"]


def test_the_2022_handout_gives_broadcast_to_compute_complete():
    for with_solutions in (False, True):
        ops = course_sources("2022", with_solutions)["python/needle/ops.py"]
        functions = {b.function for b in find_solution_blocks(ops, "python/needle/ops.py")}
        assert "BroadcastTo.gradient" in functions and "BroadcastTo.compute" not in functions
        assert "out[...] = a" in ops  # the reference's own body, as the given code
    assert ("needle.ops", "BroadcastTo.compute") not in student_functions("2022")
    assert ("simple_ml", "nn_epoch") in student_functions("2022")
    assert len(student_functions("2022")) == sum(map(len, STUDENT_FUNCTIONS.values())) - 3  # and EWisePow


def test_fill_solutions_puts_code_at_the_blocks_indentation():
    filled = fill_solutions(SAMPLE, "python/needle/ops.py", {"Op.gradient": "if x:\n    return 2 * out_grad\n"})
    blocks = {b.function: b.text for b in find_solution_blocks(filled, "python/needle/ops.py")}
    assert blocks["Op.gradient"] == "        if x:\n            return 2 * out_grad\n"
    assert blocks["Op.compute"] == "        b = a + 1\n        return b\n"   # the others as they were


def test_refusal_lists_the_existing_file_and_writes_nothing(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/simple_ml.py").write_text("mine\n")
    with pytest.raises(FileExistsError) as info:
        write_handout(tmp_path)
    assert "simple_ml.py" in str(info.value)
    assert not (tmp_path / "python").exists()
    assert (tmp_path / "apps/simple_ml.py").read_text() == "mine\n"


STARTER_CHECK = """
import importlib, inspect, json
out, blocks = sys.argv[1], json.loads(sys.argv[2])
import needle
assert needle.__file__.startswith(out), needle.__file__
modules = {"python/needle/autograd.py": "needle.autograd", "python/needle/ops.py": "needle.ops",
           "apps/simple_ml.py": "simple_ml"}
outcome = {}
for course_path, qualname in blocks:
    module = importlib.import_module(modules[course_path])
    owner, _, name = qualname.rpartition(".")
    if owner:
        cls = getattr(module, owner)
        function, leading = getattr(cls, name), [cls.__new__(cls)]
    else:
        function, leading = getattr(module, name), []
    args = [None] * (len(inspect.signature(function).parameters) - len(leading))
    try:
        function(*leading, *args)
        outcome[qualname] = "returned"
    except NotImplementedError:
        outcome[qualname] = "NotImplementedError"
    except Exception as e:
        outcome[qualname] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(outcome))
"""


def test_starter_code_imports_and_every_student_function_raises(tmp_path):
    write_handout(tmp_path)
    blocks = [(course, f) for course, functions in STUDENT_FUNCTIONS.items() for f in functions
              if f not in ("BroadcastTo.compute", "EWisePow.compute", "EWisePow.gradient")]  # complete in 2022
    outcome = json.loads(run_isolated(STARTER_CHECK, tmp_path, json.dumps(blocks)))
    assert outcome == {f: "NotImplementedError" for _, f in blocks}


SOLUTIONS_CHECK = """
import numpy as np
out, tests = sys.argv[1], sys.argv[2]
import needle as ndl
assert ndl.__file__.startswith(out), ndl.__file__
import simple_ml
assert simple_ml.ndl is ndl

# apps/simple_ml.py against needle from python/
Z = ndl.Tensor(np.zeros((4, 10), dtype=np.float32))
Y = ndl.Tensor(np.eye(10, dtype=np.float32)[[1, 2, 3, 4]])
assert abs(float(simple_ml.softmax_loss(Z, Y).numpy()) - np.log(10)) < 1e-6
rng = np.random.default_rng(0)
X = rng.standard_normal((20, 5)).astype(np.float32)
y = rng.integers(0, 3, 20).astype(np.uint8)
W1, W2 = ndl.Tensor(rng.standard_normal((5, 4)).astype(np.float32)), ndl.Tensor(rng.standard_normal((4, 3)).astype(np.float32))
def loss(W1, W2):
    return float(simple_ml.loss_err(ndl.relu(ndl.Tensor(X) @ W1) @ W2, y)[0])
before = loss(W1, W2)
W1, W2 = simple_ml.nn_epoch(X, y, W1, W2, lr=0.1, batch=5)
assert loss(W1, W2) < before and W1.dtype == np.float32

# and a subset of the needle tests, run against this copy
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-x", "-k", tests,
                      "tests/test_needle_ops.py", "tests/test_needle_autograd.py"]))
"""


def test_handout_with_solutions_passes_the_needle_checks(tmp_path):
    write_handout(tmp_path, with_solutions=True)
    subset = ("forward or matmul_backward or broadcast_to_backward or summation_backward or transpose_backward "
              "or topo or gradient_of_gradient or several_paths or float32 or shape_error")
    result = subprocess.run(
        ISOLATED + [
            "import os, sys; sys.path[:0] = %r; os.chdir(%r)\n" % (
                [str(tmp_path / "python"), str(tmp_path / "apps"), str(REPO_ROOT)], str(REPO_ROOT))
            + SOLUTIONS_CHECK,
            str(tmp_path), subset,
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
