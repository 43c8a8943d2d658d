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
    assert result.message == "NaN at index (1,) where 2 was expected (1 NaN of 2 elements)"
    assert compare.compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])).ok
    assert compare.compare(np.array([np.inf]), np.array([np.inf])).ok
    assert not compare.compare(np.array([np.inf]), np.array([-np.inf])).ok


def test_scalars_compare():
    assert compare.compare(np.float32(np.log(10)), np.float32(2.3025851)).ok
    result = compare.compare(np.array(2.0), np.array(3.0))
    assert not result.ok and "at index ()" in result.message


@pytest.mark.parametrize("got, numeric, verdict", [
    ([1.0, 2.0], [1.0, 2.0], None),
    ([1.0, 3.0], [1.0, 3.0], "disagrees with the reference gradient"),
    ([1.0, 2.0], [1.0, 3.0], "agrees with the reference gradient but not with the numerical gradient"),
    ([1.0, 4.0], [1.0, 3.0], "disagrees with both the reference gradient"),
])
def test_gradients_are_checked_against_reference_and_numerical_gradient(got, numeric, verdict):
    result = compare.compare_gradient(np.array([1.0, 2.0]), np.array(got), np.array(numeric))
    assert result.ok == (verdict is None)
    if verdict:
        assert result.message.startswith(verdict)


def test_a_gradient_without_its_numerical_companion_fails():
    result = compare.compare_gradient(np.array([1.0]), np.array([1.0]), None)
    assert not result.ok and "numerical gradient" in result.message
