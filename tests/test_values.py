"""Whatever numbers a submission returns, the grader writes a strict-JSON result and says what they were."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import generated_with
from grader import results

REPO_ROOT = Path(__file__).resolve().parent.parent


def strict_json(text):
    def refuse(token):
        raise ValueError(f"{token} is not strict JSON")

    return json.loads(text, parse_constant=refuse)


def graded(grading_session, folder, suite):
    session = grading_session()
    staged = session.stage(str(folder))
    result = session.grade(staged)
    text = results.dumps(result)
    result = strict_json(text)
    results.validate(result)
    return {case["name"]: case for s in result["suites"] if s["name"] == suite for case in s["cases"]}


@pytest.mark.parametrize("body, says", [
    ("return a * 1e308 * 10", "largest absolute error inf at index (0, 0) (expected 0.4956334, got -inf)"),
    ("return -a * numpy.inf", "largest absolute error inf at index (0, 0) (expected 0.4956334, got inf)"),
    ("return a * numpy.nan", "NaN at index (0, 0)"),
    ("return numpy.array([object()] * a.size).reshape(a.shape)", "dtype object, expected numbers"),
    ("return a.astype(complex)", "dtype complex128, expected numbers"),
    ("return numpy.float64(a.sum())", "shape (), expected (3, 4)"),
    ("return numpy.zeros((0,))", "shape (0,), expected (3, 4)"),
], ids=["overflow", "inf", "nan", "object", "complex", "0-d", "empty"])
def test_answers_that_overflow_are_nan_or_of_the_wrong_kind_fail_with_a_message(grading_session, tmp_path, body, says):
    cases = graded(grading_session, generated_with(tmp_path / "submission", "2022", {"Negate.compute": body}),
                   "forward")
    assert cases["negate"]["status"] == "failed"
    assert says in cases["negate"]["message"], cases["negate"]["message"]


def test_a_diverging_epoch_is_graded_and_written_as_strict_json(tmp_path):
    """The course's example: a loss that sums instead of averaging makes training overflow."""
    folder = generated_with(tmp_path / "submission", "2022", {"softmax_loss": """
log_sum_exp = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
return (ndl.summation(log_sum_exp) - ndl.summation(Z * y_one_hot)) * 1e30
"""})
    out = tmp_path / "result.json"
    completed = subprocess.run([sys.executable, "-m", "grader", "run", str(folder), "--suite", "nn_epoch",
                                "--out", str(out), "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert strict_json(completed.stdout)["score"] < 10
    result = strict_json(out.read_text())
    results.validate(result)
    epoch = {case["name"]: case for case in result["suites"][0]["cases"]}["full_epoch"]
    assert epoch["status"] == "failed"
    assert "nan" in epoch["message"].lower() or "inf" in epoch["message"]
