"""Real students' code on the course's own 2022 starter gets the verdicts the homework intends.

The starter is read from ``../shared/handouts/2022`` (or ``$NEEDLE_GRADER_HANDOUTS``);
the solutions written onto it are in ``corpus_2022.py``.
"""

import os
import shutil
from pathlib import Path

import pytest

from corpus_2022 import PROPAGATING, STUDENTS, VARIANTS, build
from grader import results, scores

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = Path(os.environ.get("NEEDLE_GRADER_HANDOUTS") or REPO_ROOT.parent / "shared" / "handouts")


@pytest.fixture(scope="session")
def starter_2022():
    folder = HANDOUTS / "2022"
    if not (folder / "python" / "needle" / "ops.py").is_file():
        pytest.skip(f"the course's 2022 starter is not in {folder} (set NEEDLE_GRADER_HANDOUTS to the handouts folder)")
    return folder


def grade(grading_session, path, data_dir=None):
    session = grading_session(data_dir)
    result = session.grade(session.stage(str(path)))
    results.validate(result)
    cases = {f"{suite['name']}::{case['name']}": case for suite in result["suites"] for case in suite["cases"]}
    return result, cases


def not_passed(cases, advisory):
    return {name for name, case in cases.items() if case["status"] != "passed" and case["advisory"] == advisory}


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_a_correct_solution_scores_100_and_shows_its_advisories(name, starter_2022, grading_session, tmp_path):
    student = STUDENTS[name]
    result, cases = grade(grading_session, build(starter_2022, student, tmp_path / name))
    assert not_passed(cases, advisory=False) == set(), {n: cases[n]["message"] for n in not_passed(cases, False)}
    assert (result["score"], result["max_score"]) == (100.0, 100.0)
    assert not_passed(cases, advisory=True) == student.advisories
    for case in student.advisories:
        assert cases[case]["score"] == cases[case]["max_score"] == 0 and cases[case]["message"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_single_bug_costs_only_the_question_where_it_lives(name, starter_2022, grading_session, tmp_path):
    variant = VARIANTS[name]
    result, cases = grade(grading_session, build(starter_2022, variant, tmp_path / name))
    failing = not_passed(cases, advisory=False)
    assert failing == variant.fails, {n: cases[n]["message"] for n in failing ^ variant.fails if n in cases}
    buggy_suites = {scores.suite_of(case) for case in variant.fails}
    assert len(buggy_suites) == 1
    for suite in result["suites"]:
        assert (suite["score"] < suite["max_score"]) == (suite["name"] in buggy_suites), suite["name"]
    for case in failing:   # a cause it names is in the same question
        assert cases[case]["message"]
        assert {scores.suite_of(cause["case"]) for cause in cases[case].get("causes", [])} <= buggy_suites


def test_a_bug_in_code_later_questions_call_is_named_where_they_fail(starter_2022, grading_session, tmp_path):
    _, cases = grade(grading_session, build(starter_2022, PROPAGATING["ada-adjoints-replaced"], tmp_path / "a"))
    assert {scores.suite_of(name) for name in not_passed(cases, advisory=False)} == {
        "compute_gradient", "softmax_loss", "nn_epoch"}
    cause = {"function": "compute_gradient_of_variables", "case": "compute_gradient::product_of_sums"}
    for name in ("softmax_loss::softmax_loss_backward", "nn_epoch::one_step_is_the_gradient", "nn_epoch::full_epoch"):
        assert cases[name]["causes"] == [cause], cases[name]
        assert cases[name]["message"].endswith(
            "\n(compute_gradient_of_variables also fails compute_gradient/product_of_sums: fix that first)")

    _, cases = grade(grading_session, build(starter_2022, PROPAGATING["ada-loss-summed"], tmp_path / "b"))
    assert not_passed(cases, advisory=False) == {
        "softmax_loss::softmax_loss[zero]", "softmax_loss::softmax_loss[random]", "softmax_loss::softmax_loss_backward",
        "nn_epoch::one_step_is_the_gradient", "nn_epoch::lr_and_batch[lr0.3-batch20]",
        "nn_epoch::lr_and_batch[lr0.05-batch60]", "nn_epoch::full_epoch"}
    assert cases["nn_epoch::full_epoch"]["causes"] == [
        {"function": "softmax_loss", "case": "softmax_loss::softmax_loss[zero]"}]


def test_the_untouched_starter_scores_0_with_a_message_on_every_case(starter_2022, grading_session, tmp_path):
    shutil.copytree(starter_2022, tmp_path / "starter")
    result, cases = grade(grading_session, tmp_path / "starter")
    assert result["score"] == 0.0 and result["max_score"] == 100.0
    assert result["files"] == {path: "submitted" for path in result["files"]}
    for name, case in cases.items():
        assert case["status"] in ("error", "failed"), name
        assert case["message"].startswith("not implemented: "), (name, case["message"])


@pytest.mark.parametrize("name", ["ada", "hana", "kai", "nia"])
def test_float64_and_float32_students_pass_on_the_real_mnist_test_set(name, starter_2022, grading_session, tmp_path,
                                                                      real_mnist_dir):
    result, cases = grade(grading_session, build(starter_2022, STUDENTS[name], tmp_path / name), real_mnist_dir)
    assert not_passed(cases, advisory=False) == set(), {n: cases[n]["message"] for n in not_passed(cases, False)}
    assert result["score"] == 100.0
