"""grader.years: each year's generated handout, and telling a submission's year from its files."""

import functools
import os
from pathlib import Path

import pytest

from grader import handout, years

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = Path(os.environ.get("NEEDLE_GRADER_HANDOUTS") or REPO_ROOT.parent / "shared" / "handouts")


def texts(root):
    return {path.relative_to(root).as_posix(): path.read_text() for path in Path(root).rglob("*.py")}


def course_starter(year):
    folder = HANDOUTS / year
    if not folder.is_dir():
        pytest.skip(f"the course's {year} starter is not in {folder}")
    return folder


def without_markers(text):
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in (handout.BEGIN_MARKER, handout.END_MARKER))


@pytest.mark.parametrize("year", years.YEARS)
def test_the_course_starter_of_each_year_is_recognised(year):
    detection = years.detect(texts(course_starter(year)))
    assert (detection.year, detection.disagreeing()) == (year, [])


@pytest.mark.parametrize("year", years.YEARS)
@pytest.mark.parametrize("with_solutions", [False, True])
def test_each_generated_handout_is_recognised_and_has_the_course_layout(year, with_solutions, tmp_path):
    years.write_handout(tmp_path, with_solutions=with_solutions, year=year)
    detection = years.detect(texts(tmp_path))
    assert (detection.year, detection.disagreeing()) == (year, [])
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


def told(files):
    """The year ``files`` are told to be, and what disagreed; or the error."""
    try:
        detection = years.detect(files)
    except years.YearError as error:
        return str(error)
    return detection.year, [str(finding) for finding in detection.disagreeing()]


@pytest.mark.parametrize("year", years.YEARS)
@pytest.mark.parametrize("origin", ["the course's starter", "the generated solution"])
def test_without_any_marker_and_with_any_one_file_missing_the_year_is_told(year, origin, tmp_path):
    if origin == "the course's starter":
        files = texts(course_starter(year))
    else:
        years.write_handout(tmp_path, with_solutions=True, year=year)
        files = texts(tmp_path)
    files = {path: without_markers(text) for path, text in files.items()}
    assert handout.BEGIN_MARKER not in "".join(files.values())
    for missing in [None, *sorted(files)]:
        left = {path: text for path, text in files.items() if path != missing}
        if year in ("2024", "2025") and missing == "python/needle/autograd.py":
            # Tensor.numpy() is all that tells 2024 from 2025
            assert told(left).startswith("cannot tell which handout year it is built on (2024 or 2025): "
                                         "found the package layout ("), missing
            assert told(left).endswith("; pass --year")
        else:
            assert told(left) == (year, []), missing


def test_each_tell_reads_the_course_starters_as_ours():
    """What every tell reads in the starters, ours and the course's: the years apart, and the same in both."""
    readings = {}
    for tell in years.tells():
        name = tell.read.args[0] if isinstance(tell.read, functools.partial) else tell.read.__name__
        ours = [years.starter_reading(tell, year) for year in years.YEARS]
        readings[name] = ours
        for year, reading in zip(years.YEARS, ours):
            path = years.HANDOUTS[year].layout.get(tell.module)
            course = course_starter(year) / path if path else None
            parsed = years._parse(course.read_text(), path) if course else None
            # the course's 2022 has no EWisePow at all; ours hands one out complete
            expected = None if year == "2022" and name.startswith("EWisePow") else reading
            assert (tell.read(parsed) if parsed else None) == expected, (name, year)
    assert readings == {
        "numpy_copies": ["Tensor.numpy() returns its data"] * 3 + ["Tensor.numpy() returns a copy"],
        "reflected_operators": ["the Tensor defines __rsub__ and __rmatmul__"] * 2
                               + ["the Tensor has no __rsub__ or __rmatmul__"] * 2,
        "devices_home": ["autograd.py defines the devices"]
                        + ["autograd.py imports the devices from backend_numpy"] * 3,
        "backward_seed": ["backward() starts from numpy.ones"] + ["backward() starts from init.ones"] * 3,
        "constants_detached": ["an op on constants keeps its graph"] + ["an op on constants detaches"] * 3,
        "package_imports_init": ["needle does not import needle.init"] + ["needle imports needle.init"] * 3,
        "ops_backend": ["the ops do not set BACKEND"] * 2 + ["the ops set BACKEND"] * 2,
        "one_hot_cast": [None, "one_hot passes the labels on as they are"] + ["one_hot casts the labels"] * 2,
        "BroadcastTo.compute": ["BroadcastTo.compute without solution markers, where the file keeps others"]
                               + ["BroadcastTo.compute between solution markers"] * 3,
        "EWisePow.compute": ["EWisePow.compute without solution markers, where the file keeps others"] * 2
                            + ["EWisePow.compute between solution markers"] * 2,
        "EWisePow.gradient": ["EWisePow.gradient without solution markers, where the file keeps others"] * 2
                             + ["EWisePow.gradient between solution markers"] * 2,
    }


def test_the_weightier_findings_win_and_what_disagreed_is_kept(tmp_path):
    years.write_handout(tmp_path / "2022", year="2022")
    years.write_handout(tmp_path / "2025", year="2025")
    mixed = {**texts(tmp_path / "2025"), "python/needle/ops.py": texts(tmp_path / "2022")["python/needle/ops.py"]}
    detection = years.detect(mixed)
    assert told(mixed) == ("2025", [
        "the flat layout (python/needle/ops.py: 2022)",
        "the ops do not set BACKEND (python/needle/ops.py: 2022 or 2023)",
        "BroadcastTo.compute without solution markers, where the file keeps others (python/needle/ops.py: 2022)",
        "EWisePow.compute without solution markers, where the file keeps others (python/needle/ops.py: 2022 or 2023)",
        "EWisePow.gradient without solution markers, where the file keeps others (python/needle/ops.py: 2022 or 2023)"])
    assert detection.warning() == ("graded as the 2025 handout, which its weightier findings show; disagreeing: "
                                   + "; ".join(told(mixed)[1]))


def test_a_student_block_whose_markers_alone_were_removed_is_a_weak_hint():
    """The issue's 2025 student: EWisePow written out, its markers gone, the other blocks' kept."""
    files = years.course_sources("2025")
    ops = "python/needle/ops/ops_mathematic.py"
    files[ops] = handout.rewrite_blocks(files[ops], ops, lambda block, lines: lines[1:-1] if block.function.startswith(
        "EWisePow.") else lines)
    detection = years.detect(files)
    assert told(files) == ("2025", [
        f"EWisePow.compute without solution markers, where the file keeps others ({ops}: 2022 or 2023)",
        f"EWisePow.gradient without solution markers, where the file keeps others ({ops}: 2022 or 2023)"])
    assert [finding.weight for finding in detection.disagreeing()] == [years.MARKERS] * 2


def test_a_file_that_does_not_parse_tells_nothing_and_the_rest_still_does():
    files = years.course_sources("2023")
    files["python/needle/autograd.py"] = "def broken(:\n"
    assert told(files) == ("2023", [])
    files["python/needle/ops/ops_mathematic.py"] = "def broken(:\n"
    # the layout, package_imports_init and one_hot_cast are left: 2023 and later, and 2023 alone
    assert told(files) == ("2023", [])


def test_files_every_year_shares_are_ambiguous(tmp_path):
    years.write_handout(tmp_path, year="2024")
    only_apps = {"apps/simple_ml.py": texts(tmp_path)["apps/simple_ml.py"]}
    assert told(only_apps) == ("cannot tell which handout year it is built on (2022 or 2023 or 2024 or 2025): "
                               "found none of the needle files that tell the years apart; pass --year")
    only_backend = {"python/needle/backend_numpy.py": texts(tmp_path)["python/needle/backend_numpy.py"]}
    assert told(only_backend) == ("cannot tell which handout year it is built on (2023 or 2024 or 2025): found the "
                                  "package layout (python/needle/backend_numpy.py: 2023 or 2024 or 2025); pass --year")


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
