"""grader.years: each year's generated handout, and telling a submission's year from its files."""

import os
from pathlib import Path

import pytest

from grader import years

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = Path(os.environ.get("NEEDLE_GRADER_HANDOUTS") or REPO_ROOT.parent / "shared" / "handouts")


def texts(root):
    return {path.relative_to(root).as_posix(): path.read_text() for path in Path(root).rglob("*.py")}


@pytest.mark.parametrize("year", years.YEARS)
def test_the_course_starter_of_each_year_is_recognised(year):
    folder = HANDOUTS / year
    if not folder.is_dir():
        pytest.skip(f"the course's {year} starter is not in {folder}")
    assert years.detect(texts(folder)) == year


@pytest.mark.parametrize("year", years.YEARS)
@pytest.mark.parametrize("with_solutions", [False, True])
def test_each_generated_handout_is_recognised_and_has_the_course_layout(year, with_solutions, tmp_path):
    years.write_handout(tmp_path, with_solutions=with_solutions, year=year)
    assert years.detect(texts(tmp_path)) == year
    folder = HANDOUTS / year
    if folder.is_dir():   # the same files as the course's starter of that year
        assert sorted(texts(tmp_path)) == sorted(texts(folder))


def test_which_functions_are_the_students_depends_on_the_year():
    def functions(year):
        return {name for _, name in years.student_functions(year)}

    assert functions("2023") - functions("2022") == {"BroadcastTo.compute"}
    assert functions("2024") - functions("2023") == {"EWisePow.compute", "EWisePow.gradient"}
    assert functions("2025") == functions("2024")
    assert ("needle.ops.ops_mathematic", "Exp.compute") in years.student_functions("2024")
    assert ("needle.ops", "Exp.compute") in years.student_functions("2022")


def test_files_of_different_years_are_a_clear_error(tmp_path):
    years.write_handout(tmp_path / "2022", year="2022")
    years.write_handout(tmp_path / "2025", year="2025")
    mixed = {**texts(tmp_path / "2025"), "python/needle/ops.py": texts(tmp_path / "2022")["python/needle/ops.py"]}
    with pytest.raises(years.YearError, match=r"its files belong to different handout years \(python/needle/ops.py "
                                              r"\(the flat layout of 2022\); .*\); pass --year"):
        years.detect(mixed)


def test_files_every_year_shares_are_ambiguous(tmp_path):
    years.write_handout(tmp_path, year="2024")
    only_apps = {"apps/simple_ml.py": texts(tmp_path)["apps/simple_ml.py"]}
    with pytest.raises(years.YearError, match=r"^cannot tell which handout year it is built on \(2022 or 2023 or 2024 "
                                              r"or 2025\): found none of the needle files that tell the years apart; "
                                              r"pass --year$"):
        years.detect(only_apps)
    no_autograd = {path: text for path, text in texts(tmp_path).items() if not path.endswith("autograd.py")}
    with pytest.raises(years.YearError, match=r"\(2024 or 2025\): found .*EWisePow with solution blocks"):
        years.detect(no_autograd)


def test_the_generated_starters_behave_as_the_course_describes_each_year():
    autograd = {year: years.course_sources(year)["python/needle/autograd.py"] for year in years.YEARS}
    assert "class CPUDevice" in autograd["2022"] and "from .backend_numpy import" in autograd["2023"]
    assert "Tensor(numpy.ones(self.shape))" in autograd["2022"]          # float64 ones
    assert "needle.init.ones(*self.shape, dtype=self.dtype" in autograd["2023"]
    assert "return value.detach()" in autograd["2024"] and "return value.detach()" not in autograd["2022"]
    assert "numpy.array(self.realize_cached_data())" in autograd["2025"]
    assert "numpy.array(self.realize_cached_data())" not in autograd["2024"]


BEHAVIOUR = r"""
import json, sys
import numpy
root = sys.argv[1]
sys.path[:0] = [root + "/python", root + "/apps"]
import needle as ndl

seen = {}
found = {"list": str(ndl.Tensor([1.0, 2.0]).dtype), "ints": str(ndl.Tensor([6]).dtype),
         "float32 array": str(ndl.Tensor(numpy.zeros(2, dtype=numpy.float32)).dtype)}
array = numpy.zeros(2)
tensor = ndl.Tensor(array)
array[0] = 5.0
found["copies its array"] = float(tensor.numpy()[0]) == 0.0
found["reflected"] = [name for name in ("__rsub__", "__rmatmul__") if hasattr(ndl.Tensor, name)]
found["BACKEND"] = getattr(ndl.ops, "BACKEND", None)
constant = ndl.Tensor([1.0], requires_grad=False)
found["ops on constants keep a graph"] = (constant * 2).op is not None
x = ndl.Tensor([1.0, 2.0])
found["numpy() is a copy"] = x.numpy() is not x.realize_cached_data()
ndl.autograd.compute_gradient_of_variables = lambda node, out_grad: seen.update(seed=str(out_grad.dtype))
ndl.Tensor(numpy.ones(2, dtype=numpy.float32)).backward()
found["backward() seeds"] = seen["seed"]
found["devices"] = [repr(ndl.cpu()), repr(ndl.all_devices())]
found["init"] = sorted(name for name in ("ones", "zeros", "rand", "randn", "one_hot", "zeros_like", "ones_like")
                       if callable(getattr(getattr(ndl, "init", None), name, None)))
print(json.dumps(found))
"""


@pytest.mark.parametrize("year", years.YEARS)
def test_each_generated_starter_behaves_as_the_course_starter_outside_the_solution_blocks(year, tmp_path):
    import json
    import subprocess
    import sys

    course = HANDOUTS / year
    if not course.is_dir():
        pytest.skip(f"the course's {year} starter is not in {course}")
    years.write_handout(tmp_path, year=year)
    behaviour = {}
    for root in (course, tmp_path):
        completed = subprocess.run([sys.executable, "-I", "-c", BEHAVIOUR, str(root)], capture_output=True, text=True,
                                   timeout=120)
        assert completed.returncode == 0, completed.stderr
        behaviour[root] = json.loads(completed.stdout)
    assert behaviour[tmp_path] == behaviour[course]
    assert behaviour[course]["backward() seeds"] == ("float64" if year == "2022" else "float32")
