"""Question 2: each op's gradient, called directly through gradient_as_tuple.

The inputs are float64 from a normal distribution, out_grad is random, and a
gradient passes when the norm of its difference from the reference's is
within the course's gradient check (1e-6). Shapes are chosen so that no
symmetry hides a bug: several stretched axes at once, square shapes where a
gradient laid along the wrong axis still has the right shape, and the default
axes of a transpose in 3-D. The op's forward and any other op
its gradient uses are computed correctly here (see ``kit/student.py``), so a
wrong compute costs only its forward cases. As in question 1, EWisePow is
graded from 2024, and log and exp join this question in 2024.
"""

import pytest

from needle_grader_kit.checks import (LOG_EXP_IN_Q1_Q2, MATMUL_SHAPES, case, check_op_gradient, log_inputs,
                                     random_inputs, shape_id)
from needle_grader_kit.harness import needle


@case("EWiseDiv.gradient")
def test_divide():
    (a,) = random_inputs([(3, 5)])
    (b,) = random_inputs([(3, 5)], low=5.0, stream="divisor")
    check_op_gradient(needle().divide, [a, b])


@case("EWisePow.gradient")
def test_power():
    (base,) = random_inputs([(3, 4)], positive=True)
    (exponent,) = random_inputs([(3, 4)], stream="exponent")
    check_op_gradient(needle().power, [base, exponent])


@case("DivScalar.gradient")
def test_divide_scalar():
    check_op_gradient(lambda a: needle().divide_scalar(a, 1.7), random_inputs([(3, 5)]))


@case("PowerScalar.gradient")
@pytest.mark.parametrize("power", [2, 3])
def test_power_scalar(power):
    check_op_gradient(lambda a: needle().power_scalar(a, power), random_inputs([(3, 4)]))


@case("MatMul.gradient")
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=lambda s: "@".join(map(shape_id, s)))
def test_matmul(shapes):
    check_op_gradient(needle().matmul, random_inputs(shapes))


@case("Summation.gradient")
@pytest.mark.parametrize("shape, axes", [((5, 4), None), ((5, 4), (1,)), ((4, 3), (0,)), ((3, 4, 5), (0, 2)),
                                         ((5, 4, 1), (0, 1)), ((4, 4), (0,))],
                         ids=["5x4-all", "5x4-axes1", "4x3-axes0", "3x4x5-axes02", "5x4x1-axes01", "4x4-axes0"])
def test_summation(shape, axes):
    check_op_gradient(lambda a: needle().summation(a, axes=axes), random_inputs([shape]))


@case("Summation.gradient", advisory=True,
      hint="the homework passes axes as a tuple; an int (axes=1) is worth handling too, as numpy's sum does",
      hint_on=("failed", "TypeError"))
def test_summation_int_axis():
    check_op_gradient(lambda a: needle().summation(a, axes=1), random_inputs([(5, 4)]))


@case("BroadcastTo.gradient")
@pytest.mark.parametrize("shape, target", [((3, 1), (3, 3)), ((1, 3), (3, 3)), ((1,), (3, 3, 3)), ((), (3, 3, 3)),
                                           ((5, 4, 1), (5, 4, 3)), ((3,), (2, 3)), ((4, 1), (3, 4, 5)),
                                           ((1, 1), (3, 3)), ((1, 4, 1), (3, 4, 5)), ((2, 1, 1), (2, 3, 4))],
                         ids=["3x1-3x3", "1x3-3x3", "1-3x3x3", "scalar-3x3x3", "5x4x1-5x4x3", "3-2x3", "4x1-3x4x5",
                              "1x1-3x3", "1x4x1-3x4x5", "2x1x1-2x3x4"])
def test_broadcast_to(shape, target):
    check_op_gradient(lambda a: needle().broadcast_to(a, target), random_inputs([shape]))


@case("Reshape.gradient")
@pytest.mark.parametrize("shape, target", [((3, 4), (2, 6)), ((2, 3, 4), (4, 6))], ids=["3x4-2x6", "2x3x4-4x6"])
def test_reshape(shape, target):
    check_op_gradient(lambda a: needle().reshape(a, target), random_inputs([shape]))


@case("Negate.gradient")
def test_negate():
    check_op_gradient(needle().negate, random_inputs([(3, 4)]))


@case("Transpose.gradient")
@pytest.mark.parametrize("shape, axes", [((3, 4), None), ((3, 5, 4), (1, 2)), ((3, 5, 4), (0, 1)), ((2, 3, 4), (0, 2)),
                                         ((3, 4, 5), None), ((4, 4, 3), (0, 1))],
                         ids=["3x4", "3x5x4-axes12", "3x5x4-axes01", "2x3x4-axes02", "3x4x5", "4x4x3-axes01"])
def test_transpose(shape, axes):
    check_op_gradient(lambda a: needle().transpose(a, axes=axes), random_inputs([shape]))


@case("Log.gradient", years=LOG_EXP_IN_Q1_Q2)
def test_log():
    check_op_gradient(needle().log, log_inputs((5, 4)))


@case("Exp.gradient", years=LOG_EXP_IN_Q1_Q2)
def test_exp():
    check_op_gradient(needle().exp, random_inputs([(5, 4)]))
