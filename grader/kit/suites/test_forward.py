"""Question 1: each op's forward (compute), called directly on float64 inputs, as the course's checks do.

Which ops depend on the year: BroadcastTo.compute is a student's from 2023,
EWisePow from 2024, and log and exp join this question in 2024.
"""

import pytest

from needle_grader_kit.checks import (LOG_EXP_IN_Q1_Q2, MATMUL_SHAPES, SMALLEST_DIVISOR, case,
                                      check_forward, log_inputs, random_inputs, shape_id)
from needle_grader_kit.harness import needle


@case("PowerScalar.compute")
@pytest.mark.parametrize("shape, power", [((3, 4), 2), ((2, 3, 2), 3)], ids=["3x4^2", "2x3x2^3"])
def test_power_scalar(shape, power):
    check_forward(lambda a: needle().power_scalar(a, power), random_inputs([shape]))


@case("EWisePow.compute")
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2)], ids=shape_id)
def test_power(shape):
    (base,) = random_inputs([shape], positive=True)
    (exponent,) = random_inputs([shape], stream="exponent")
    check_forward(needle().power, [base, exponent])


@case("EWiseDiv.compute")
@pytest.mark.parametrize("shape", [(3, 4), (2, 1, 5)], ids=shape_id)
def test_divide(shape):
    check_forward(needle().divide, random_inputs([shape, shape], away_from_zero=SMALLEST_DIVISOR))


@case("DivScalar.compute")
@pytest.mark.parametrize("shape, scalar", [((3, 4), 12.5), ((5,), -18.0), ((1, 2), 12)], ids=["3x4", "5", "1x2-int"])
def test_divide_scalar(shape, scalar):
    """Scalars no smaller than the course's 12 (see ``checks.SMALLEST_DIVISOR``), negative and int too."""
    check_forward(lambda a: needle().divide_scalar(a, scalar), random_inputs([shape]))


@case("MatMul.compute")
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=lambda s: "@".join(map(shape_id, s)))
def test_matmul(shapes):
    check_forward(needle().matmul, random_inputs(shapes))


@case("Summation.compute")
@pytest.mark.parametrize("shape, axes", [((5, 4), None), ((5, 4), 1), ((5, 4), (0,)), ((3, 4, 5), (0, 2))],
                         ids=["5x4-all", "5x4-axis1", "5x4-axes0", "3x4x5-axes02"])
def test_summation(shape, axes):
    check_forward(lambda a: needle().summation(a, axes=axes), random_inputs([shape]))


# Rows, a column, a scalar; then targets where the kept size recurs ((3, 1) -> (3, 3)), so that
# code which finds the kept axis by its size puts a column's data along a row and fails.
BROADCASTS = [((3,), (2, 3)), ((4, 1), (3, 4, 5)), ((), (3, 3, 3)), ((1, 3), (4, 3)),
              ((3, 1), (3, 3)), ((2, 1), (2, 2)), ((1, 3, 1), (3, 3, 3))]


@case("BroadcastTo.compute")
@pytest.mark.parametrize("shape, target", BROADCASTS, ids=shape_id)
def test_broadcast_to(shape, target):
    check_forward(lambda a: needle().broadcast_to(a, target), random_inputs([shape]))


@case("Reshape.compute")
@pytest.mark.parametrize("shape, target", [((3, 4), (2, 6)), ((2, 3, 4), (4, 6)), ((24,), (2, 3, 4))],
                         ids=["3x4-2x6", "2x3x4-4x6", "24-2x3x4"])
def test_reshape(shape, target):
    check_forward(lambda a: needle().reshape(a, target), random_inputs([shape]))


@case("Negate.compute")
def test_negate():
    check_forward(needle().negate, random_inputs([(3, 4)]))


@case("Transpose.compute")
@pytest.mark.parametrize("shape, axes", [((3, 4), None), ((2, 3, 4), None), ((2, 3, 4), (0, 1)), ((2, 3, 4), (0, 2))],
                         ids=["3x4", "2x3x4", "2x3x4-axes01", "2x3x4-axes02"])
def test_transpose(shape, axes):
    check_forward(lambda a: needle().transpose(a, axes=axes), random_inputs([shape]))


@case("Log.compute", years=LOG_EXP_IN_Q1_Q2)
def test_log():
    check_forward(needle().log, log_inputs((4, 5)))


@case("Exp.compute", years=LOG_EXP_IN_Q1_Q2)
def test_exp():
    check_forward(needle().exp, random_inputs([(4, 5)]))
