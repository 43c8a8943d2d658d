"""Question 2: each op's gradient, against the reference and the numerical gradient.

The op's ``gradient`` is called directly with a random out_grad (float64
inputs), and compared with the reference solution's gradient and with
numdifftools' gradient of the submission's own forward.
"""

import pytest

from needle_grader_kit.checks import MATMUL_SHAPES, check_op_gradient, random_inputs, shape_id
from needle_grader_kit.harness import needle


def test_divide():
    check_op_gradient(needle().divide, random_inputs([(3, 5), (3, 5)], away_from_zero=0.5))


def test_divide_scalar():
    check_op_gradient(lambda a: needle().divide_scalar(a, 1.7), random_inputs([(3, 5)]))


@pytest.mark.parametrize("power", [2, 3])
def test_power_scalar(power):
    check_op_gradient(lambda a: needle().power_scalar(a, power), random_inputs([(3, 4)]))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=lambda s: "@".join(map(shape_id, s)))
def test_matmul(shapes):
    check_op_gradient(needle().matmul, random_inputs(shapes))


@pytest.mark.parametrize("shape, axes", [((5, 4), None), ((5, 4), 1), ((4, 3), (0,)), ((3, 4, 5), (0, 2))],
                         ids=["5x4-all", "5x4-axis1", "4x3-axes0", "3x4x5-axes02"])
def test_summation(shape, axes):
    check_op_gradient(lambda a: needle().summation(a, axes=axes), random_inputs([shape]))


@pytest.mark.parametrize("shape, target", [((3,), (2, 3)), ((4, 1), (3, 4, 5)), ((), (3, 3, 3)), ((1,), (3, 3, 3)),
                                           ((1, 3), (5, 3))],
                         ids=["3-2x3", "4x1-3x4x5", "scalar-3x3x3", "1-3x3x3", "1x3-5x3"])
def test_broadcast_to(shape, target):
    check_op_gradient(lambda a: needle().broadcast_to(a, target), random_inputs([shape]))


@pytest.mark.parametrize("shape, target", [((3, 4), (2, 6)), ((2, 3, 4), (4, 6))], ids=["3x4-2x6", "2x3x4-4x6"])
def test_reshape(shape, target):
    check_op_gradient(lambda a: needle().reshape(a, target), random_inputs([shape]))


def test_negate():
    check_op_gradient(needle().negate, random_inputs([(3, 4)]))


@pytest.mark.parametrize("shape, axes", [((3, 4), None), ((2, 3, 4), None), ((2, 3, 4), (0, 2))],
                         ids=["3x4", "2x3x4", "2x3x4-axes02"])
def test_transpose(shape, axes):
    check_op_gradient(lambda a: needle().transpose(a, axes=axes), random_inputs([shape]))


def test_exp():
    check_op_gradient(needle().exp, random_inputs([(3, 4)]))
