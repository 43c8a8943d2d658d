"""Comparing submitted arrays with expected ones: verdicts and the figures in messages."""

import numpy as np
import pytest

from grader import compare


def test_equal_arrays_pass_with_zero_error():
    result = compare.compare(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert result.ok and result.figures == {"max_abs_error": 0.0, "max_rel_error": 0.0}


def test_a_wrong_element_is_located_with_its_errors():
    expected = np.array([[1.0, 2.0], [4.0, 8.0]], dtype=np.float32)
    got = np.array([[1.0, 2.0], [5.0, 8.0]], dtype=np.float32)
    result = compare.compare(expected, got)
    assert not result.ok
    assert result.figures["index"] == [1, 0]
    assert result.figures["max_abs_error"] == 1.0
    assert result.figures["max_rel_error"] == 0.25
    assert result.message == ("1 of 4 elements differ beyond rtol=1e-05, atol=1e-05; largest absolute error 1 "
                              "at index (1, 0) (expected 4, got 5); largest relative error 0.25")


def test_tolerances_follow_the_dtype():
    assert compare.compare(np.array([1.0], np.float32), np.array([1.000009], np.float32)).ok
    assert not compare.compare(np.array([1.0]), np.array([1.000009])).ok


def test_shape_and_dtype_mismatches_are_named():
    assert compare.compare(np.zeros((2, 3)), np.zeros((3, 2))).message == "shape (3, 2), expected (2, 3)"
    result = compare.compare(np.zeros(3, np.uint8), np.zeros(3, np.int64), exact_dtype=True)
    assert result.message == "dtype int64, expected uint8"
    assert compare.compare(np.zeros(3, np.uint8), np.zeros(3, np.int64)).ok


def test_nan_fails_unless_expected():
    result = compare.compare(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert not result.ok
    assert result.message == "NaN at index (1,) where 2 was expected (1 nan of 2 elements)"
    assert compare.compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])).ok
    assert compare.compare(np.array([np.inf]), np.array([np.inf])).ok
    assert not compare.compare(np.array([np.inf]), np.array([-np.inf])).ok


def test_scalars_compare():
    assert compare.compare(np.float32(np.log(10)), np.float32(2.3025851)).ok
    result = compare.compare(np.array(2.0), np.array(3.0))
    assert not result.ok and "at index ()" in result.message


def test_the_norm_rule_is_the_course_gradient_check():
    expected = np.zeros(20)
    smoothed = np.full(20, 2e-7)   # an epsilon the course accepts: norm 8.9e-7
    assert compare.compare(expected, smoothed, norm=1e-6).ok
    assert not compare.compare(expected, smoothed, rtol=1e-7, atol=1e-9).ok
    result = compare.compare(expected, np.where(np.arange(20) == 3, 1e-3, 0.0), norm=1e-6)
    assert not result.ok and result.figures["error_norm"] == 1e-3
    assert result.message == ("the difference from the expected value has norm 0.001, over the 1e-06 allowed; "
                              "largest absolute error 0.001 at index (3,) (expected 0, got 0.001)")


@pytest.mark.parametrize("got, says", [(np.inf, "got inf"), (-np.inf, "got -inf"), (np.nan, "NaN at index")])
def test_non_finite_values_fail_with_finite_figures(got, says):
    for rule in ({}, {"norm": 1e-6}):
        result = compare.compare(np.array([1.0, 2.0]), np.array([1.0, got]), **rule)
        assert not result.ok and says in result.message
        assert all(value is None or np.isfinite(value) for value in result.figures.values()
                   if isinstance(value, float)), result.figures


def test_gradients_are_judged_against_the_reference_and_explained_by_the_numerical_gradient():
    expected = np.array([1.0, 2.0])
    assert compare.compare_gradient(expected, np.array([1.0, 2.0]), np.array([1.0, 3.0])).ok
    consistent = compare.compare_gradient(expected, np.array([1.0, 3.0]), np.array([1.0, 3.0]))
    assert not consistent.ok and consistent.message.endswith(
        "; it agrees with the numerical gradient of your own forward, so the forward itself differs from the "
        "reference's")
    wrong = compare.compare_gradient(expected, np.array([1.0, 4.0]), np.array([1.0, 3.0]))
    assert not wrong.ok and "numerical gradient" not in wrong.message
    assert not compare.compare_gradient(expected, np.array([1.0, 4.0]), None).ok
