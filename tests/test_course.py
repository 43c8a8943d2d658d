"""Real students' code on the course's own starters, 2022 to 2025, gets the verdicts the homework intends.

The starters are read from ``../shared/handouts/YEAR`` (or ``$NEEDLE_GRADER_HANDOUTS``);
the solutions written onto them are in ``corpus.py``. 2022, the homework's
year, gets the whole corpus; each later year a few students and the
variants whose bug lies where that year differs.
"""

import os
import shutil
from pathlib import Path

import pytest

from corpus import COMMON, HANGING, NN_TRAINING, PROPAGATING, STUDENTS, VARIANTS, Variant, build, expected_fails
from grader import gradescope, grading, isolation, results, scores, years

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = Path(os.environ.get("NEEDLE_GRADER_HANDOUTS") or REPO_ROOT.parent / "shared" / "handouts")


# ola's log meets log's move to question 1 (2024), pia's Summation.__init__ the package layout (2023).
STUDENTS_BY_YEAR = {"2022": sorted(STUDENTS), "2023": ["ada", "ben", "gus", "ola", "pia"],
                    "2024": ["ada", "hana", "jun", "ola", "quinn"], "2025": ["ada", "fay", "nia", "ola"]}
LATER_VARIANTS = ["ada-exp-forward", "ada-log-base-10", "ada-divide-sign", "ada-topo-pre-order", "ada-broadcast-by-resize",
                  "ada-broadcast-by-searching-sizes", "ada-power-exponent-gradient", "ada-power-forward-swapped"]
VARIANTS_BY_YEAR = {year: [name for name in (sorted(VARIANTS) if year == "2022" else LATER_VARIANTS)
                           if year in VARIANTS[name].years] for year in years.YEARS}


def starter(year):
    folder = HANDOUTS / year
    if not (folder / "apps" / "simple_ml.py").is_file():
        pytest.skip(f"the course's {year} starter is not in {folder} (set NEEDLE_GRADER_HANDOUTS to the handouts folder)")
    return folder


def grade(grading_session, path, data_dir=None):
    session = grading_session(data_dir)
    result = session.grade(session.stage(str(path)))
    results.validate(result)
    cases = {f"{suite['name']}::{case['name']}": case for suite in result["suites"] for case in suite["cases"]}
    return result, cases


def not_passed(cases, advisory):
    return {name for name, case in cases.items() if case["status"] != "passed" and case["advisory"] == advisory}


@pytest.mark.parametrize("year, name", [(year, name) for year, names in STUDENTS_BY_YEAR.items() for name in names])
def test_a_correct_solution_scores_100_and_shows_its_advisories(year, name, grading_session, tmp_path):
    student = STUDENTS[name]
    result, cases = grade(grading_session, build(starter(year), student, tmp_path / name))
    assert result["handout"] == year
    assert not_passed(cases, advisory=False) == set(), {n: cases[n]["message"] for n in not_passed(cases, False)}
    assert (result["score"], result["max_score"]) == (100.0, 100.0)
    assert not_passed(cases, advisory=True) == student.advisories_in(year)
    for case in student.advisories_in(year):
        assert cases[case]["score"] == cases[case]["max_score"] == 0 and cases[case]["message"]


@pytest.mark.parametrize("year, name", [(year, name) for year, names in VARIANTS_BY_YEAR.items() for name in names])
def test_a_single_bug_costs_only_the_question_where_it_lives(year, name, grading_session, tmp_path, unbalanced_sums):
    variant = VARIANTS[name]
    result, cases = grade(grading_session, build(starter(year), variant, tmp_path / name))
    failing, expected = not_passed(cases, advisory=False), expected_fails(variant, year)
    assert failing == expected, {n: cases[n]["message"] for n in failing ^ expected if n in cases}
    assert unbalanced_sums(result) == []
    buggy_suites = {scores.suite_of(case) for case in expected}
    assert len(buggy_suites) == 1
    for suite in result["suites"]:
        assert (suite["score"] < suite["max_score"]) == (suite["name"] in buggy_suites), suite["name"]
    for case in failing:   # a cause it names is in the same question
        assert cases[case]["message"]
        assert {scores.suite_of(cause["case"]) for cause in cases[case].get("causes", [])} <= buggy_suites


def test_a_bug_in_code_later_questions_call_is_named_where_they_fail(grading_session, tmp_path):
    _, cases = grade(grading_session, build(starter("2022"), PROPAGATING["ada-adjoints-replaced"], tmp_path / "a"))
    assert {scores.suite_of(name) for name in not_passed(cases, advisory=False)} == {
        "compute_gradient", "softmax_loss", "nn_epoch"}
    cause = {"function": "compute_gradient_of_variables", "case": "compute_gradient::product_of_sums"}
    for name in ("softmax_loss::softmax_loss_backward", "nn_epoch::one_step_is_the_gradient", "nn_epoch::full_epoch"):
        assert cases[name]["causes"] == [cause], cases[name]
        assert cases[name]["message"].endswith(
            "\n(compute_gradient_of_variables also fails compute_gradient/product_of_sums: fix that first)")

    _, cases = grade(grading_session, build(starter("2022"), PROPAGATING["ada-loss-summed"], tmp_path / "b"))
    assert not_passed(cases, advisory=False) == {
        "softmax_loss::softmax_loss[zero]", "softmax_loss::softmax_loss[random]", "softmax_loss::softmax_loss_backward",
        "nn_epoch::one_step_is_the_gradient", "nn_epoch::lr_and_batch[lr0.3-batch20]",
        "nn_epoch::lr_and_batch[lr0.05-batch60]", "nn_epoch::full_epoch"}
    assert cases["nn_epoch::full_epoch"]["causes"] == [
        {"function": "softmax_loss", "case": "softmax_loss::softmax_loss[zero]"}]


# Log.compute, and whether log's forward passes. The course checks log(4.0) and log(4.55) at rtol 1e-7, which
# accepts log(a + eps) for |eps| up to 5.5e-7, and nothing that is really another function or missing.
LOG_FORWARDS = {"2022": [("return array_api.log(a + 5.5e-7)", True), ("return array_api.log(a - 5.5e-7)", True),
                         ("return array_api.log(a + 6e-7)", False), ("return array_api.log1p(a)", False),
                         ("return -array_api.log(a)", False), ("return array_api.log10(a)", False),
                         ("raise NotImplementedError()", False)],
                "2024": [("return array_api.log(a + 5.5e-7)", True), ("return array_api.log(a + 6e-7)", False)]}
LOG_FORWARD_CASE = {"2022": "softmax_loss::log_forward", "2024": "forward::log"}


@pytest.fixture(scope="module")
def log_forward_session():
    with grading.Session(cases=tuple(LOG_FORWARD_CASE.values())) as session:
        yield session


@pytest.mark.parametrize("year, body, passes", [(year, *entry) for year, entries in LOG_FORWARDS.items()
                                                for entry in entries])
def test_log_forward_passes_what_the_courses_check_accepts(year, body, passes, log_forward_session, tmp_path):
    folder = build(starter(year), Variant("ada", body, {"Log.compute": body}, set()), tmp_path / "log")
    result = log_forward_session.grade(log_forward_session.stage(str(folder)))
    ((name, case),) = [(f"{suite['name']}::{case['name']}", case) for suite in result["suites"] for case in suite["cases"]]
    assert name == LOG_FORWARD_CASE[year]
    assert (case["status"] == "passed") == passes, case["message"]


@pytest.mark.parametrize("year", years.YEARS)
def test_the_untouched_starter_scores_0_with_a_message_on_every_case(year, grading_session, tmp_path):
    shutil.copytree(starter(year), tmp_path / "starter")
    result, cases = grade(grading_session, tmp_path / "starter")
    assert result["handout"] == year
    assert result["score"] == 0.0 and result["max_score"] == 100.0
    assert set(result["files"].values()) == {"submitted"}
    for name, case in cases.items():
        assert case["status"] in ("error", "failed"), name
        assert case["message"].startswith("not implemented: "), (name, case["message"])


@pytest.mark.parametrize("year", years.YEARS)
def test_the_generated_solution_of_each_year_scores_100(year, grading_session, tmp_path, unbalanced_sums):
    years.write_handout(tmp_path / "solution", with_solutions=True, year=year)
    result, cases = grade(grading_session, tmp_path / "solution")
    assert (result["handout"], result["score"]) == (year, 100.0)
    assert unbalanced_sums(result) == []
    # Gradescope shows the tests' points beside the total: they add up to it (they once made 100.0008)
    book = gradescope.results_json(result)
    assert book["score"] == 100.0 and unbalanced_sums(book) == []
    assert sum(test["max_score"] for test in book["tests"]) == pytest.approx(100.0, abs=1e-6)
    assert set(result["files"].values()) == {"submitted"} and len(result["files"]) == len(years.course_sources(year))


@pytest.mark.parametrize("name", ["ada", "hana", "kai", "nia"])
def test_float64_and_float32_students_pass_on_the_real_mnist_test_set(name, grading_session, tmp_path, real_mnist_dir):
    result, cases = grade(grading_session, build(starter("2022"), STUDENTS[name], tmp_path / name), real_mnist_dir)
    assert not_passed(cases, advisory=False) == set(), {n: cases[n]["message"] for n in not_passed(cases, False)}
    assert result["score"] == 100.0


# numpy 2 refuses a Python int out of a uint8's bounds: this student's own negate crashes on the uint8
# one-hot codes their nn_epoch builds, where the grader's stand-in -a wraps and goes on to wrong weights.
NEGATE_OVERFLOWS = Variant("ada", "Negate.compute multiplies by -1; nn_epoch's one-hot codes are uint8", {
    "Negate.compute": "return a * -1",
    "softmax_loss": """
log_sum_exp = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
return ndl.summation(log_sum_exp + ndl.summation(-y_one_hot * Z, axes=(1,))) / Z.shape[0]
""",
    "nn_epoch": COMMON["nn_epoch"].replace("W2.shape[1]))", "W2.shape[1]), dtype=np.uint8)")}, set())


def test_a_students_compute_that_raises_where_the_grader_stands_in_is_named_first(grading_session, tmp_path):
    folder = build(starter("2022"), NEGATE_OVERFLOWS, tmp_path / "negate")
    line = (folder / "python" / "needle" / "ops.py").read_text().splitlines().index("        return a * -1") + 1
    result, cases = grade(grading_session, folder)
    raised = {"function": "Negate.compute", "exception": "OverflowError",
              "message": "Python integer -1 out of bounds for uint8", "where": f"python/needle/ops.py:{line}"}
    said = (f"Negate.compute raised OverflowError: Python integer -1 out of bounds for uint8 at "
            f"python/needle/ops.py:{line}; the grader used its own value and went on")
    # the verdicts are the stand-in's: the weights it leads to are wrong (by about 55, or NaN), the graph is not
    assert not_passed(cases, advisory=False) == NN_TRAINING
    assert [suite["score"] for suite in result["suites"]][:-1] == [10, 25, 20, 25, 10]
    calling_nn_epoch = NN_TRAINING | {"nn_epoch::graph_does_not_grow", "nn_epoch::returns_plain_weights",
                                      "nn_epoch::keeps_float32"}
    assert {name for name, case in cases.items() if "student_raised" in case} == calling_nn_epoch
    for name in calling_nn_epoch:
        assert cases[name]["student_raised"] == [raised]
        assert cases[name]["message"].splitlines()[0] == said
    assert cases["nn_epoch::graph_does_not_grow"]["message"] == said   # passed: the note alone
    failed = cases["nn_epoch::one_step_is_the_gradient"]
    assert failed["message"].splitlines()[1].startswith("W1 step: 50 of 50 elements differ")
    assert results.brief(failed) == [said, failed["message"].splitlines()[1]]


def test_a_function_that_hangs_costs_one_time_limit_and_only_the_cases_that_call_it(tmp_path):
    variant = HANGING["ada-transpose-gradient-hangs"]
    with grading.Session(limits=isolation.Limits(case_timeout=3)) as session:
        result = session.grade(session.stage(str(build(starter("2022"), variant, tmp_path / "hangs"))))
    cases = {f"{suite['name']}::{case['name']}": case for suite in result["suites"] for case in suite["cases"]}
    first, *later = sorted(variant.fails, key=list(cases).index)
    assert (cases[first]["status"], cases[first]["message"]) == ("timeout", "timed out after 3 s in Transpose.gradient")
    for name in later:
        assert (cases[name]["status"], cases[name]["message"]) == (
            "timeout", "stopped at once: it calls Transpose.gradient, which ran past its time limit in "
                       "backward/transpose[3x4]"), name
    # every other case runs, with ada's verdicts: only her advisories fail
    assert not_passed(cases, advisory=False) == variant.fails
    assert not_passed(cases, advisory=True) == STUDENTS["ada"].advisories_in("2022")
    assert [(suite["name"], suite["score"]) for suite in result["suites"]] == [
        ("forward", 10), ("backward", 20.7147), ("topo_sort", 20), ("compute_gradient", 25), ("softmax_loss", 10),
        ("nn_epoch", 10)]
    assert result["restarts"] == 1   # one child killed, at the one time limit spent
    assert result["notes"][-1] == ("Transpose.gradient ran past its time limit in backward/transpose[3x4]: "
                                   "it was not run again")
