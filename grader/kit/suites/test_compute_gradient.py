"""Question 4: reverse-mode differentiation over whole graphs, and gradients of gradients."""

import numpy as np

from needle_grader_kit.checks import check_backward, random_inputs, tensors
from needle_grader_kit.harness import CaseError, needle, submit


def test_matmul_product():
    ndl = needle()
    check_backward(lambda a, b, c: ndl.summation((a @ b + c) * (a @ b), axes=None),
                   random_inputs([(10, 9), (9, 8), (10, 8)]))


def test_broadcast_product():
    ndl = needle()
    check_backward(lambda a, b: ndl.summation(ndl.broadcast_to(a, (10, 9)) * b, axes=None),
                   random_inputs([(1, 9), (10, 9)]))


def test_reshape_matmul_scale():
    ndl = needle()
    check_backward(lambda a, b, c: ndl.summation(ndl.reshape(a, (10, 10)) @ b / 5 + c, axes=None),
                   random_inputs([(100,), (10, 5), (10, 5)]))


def test_non_scalar_output():
    ndl = needle()
    check_backward(lambda a, b: ndl.transpose(ndl.power_scalar(a, 2) - ndl.divide(a, b), axes=(0, 1)),
                   random_inputs([(3, 4), (3, 4)], away_from_zero=0.5))


def test_several_paths_to_one_node():
    """x reaches the output along four paths; its adjoint is their sum."""
    ndl = needle()
    check_backward(lambda x, b: ndl.summation(x * x + x * 3.0 + ndl.divide(x, b) - ndl.exp(x)),
                   random_inputs([(2, 3), (2, 3)], away_from_zero=0.5))


def test_paths_through_broadcast():
    ndl = needle()
    check_backward(lambda x: ndl.summation(x + ndl.broadcast_to(ndl.summation(x, axes=(0,)), (4, 3)) * x),
                   random_inputs([(4, 3)]))


def test_gradient_of_gradient_scalar():
    ndl = needle()
    x2, x3 = ndl.Tensor([6.0]), ndl.Tensor([0.0])
    y = x2 * x2 + x2 * x3
    y.backward()
    grad_x2, grad_x3 = x2.grad, x3.grad
    if grad_x2 is None or grad_x3 is None:
        raise CaseError("x2.grad or x3.grad is None after y.backward()")
    grad_x2.backward()
    submit("y", y)
    submit("dy_dx2", grad_x2)
    submit("dy_dx3", grad_x3)
    submit("d2y_dx2dx2", x2.grad)
    submit("d2y_dx2dx3", x3.grad)


def test_gradient_of_gradient_vector():
    ndl = needle()
    (x,) = tensors(random_inputs([(5,)]))
    weights = ndl.Tensor(np.linspace(-1.0, 1.0, 5))
    y = ndl.summation(ndl.power_scalar(x, 3) * weights)
    y.backward()
    first = x.grad
    if first is None:
        raise CaseError("x.grad is None after y.backward()")
    ndl.summation(first * first).backward()
    submit("dy_dx", first)
    submit("d_sum_dy_dx_squared_dx", x.grad)
