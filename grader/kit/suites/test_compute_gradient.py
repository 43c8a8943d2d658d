"""Question 4: reverse-mode differentiation over whole graphs, and gradients of gradients.

The graphs are built only from what the starter gives complete (Tensor ``+``
and ``*``: EWiseAdd, AddScalar, EWiseMul, MulScalar, whose gradients are
given too, and one op of the grader's own built on them), and the
topological order comes from a stand-in (see ``kit/student.py``): these
cases measure the accumulation of adjoints and nothing else. Gradients pass within the course's gradient check (1e-6).
"""

import numpy as np

from needle_grader_kit.checks import case, check_backward, input_grads, random_inputs, tensors
from needle_grader_kit.harness import needle, rng, submit


@case("compute_gradient_of_variables")
def test_product_of_sums():
    check_backward(lambda a, b, c: (a + b) * (a * c) + c * 2.0, random_inputs([(4, 3), (4, 3), (4, 3)]))


@case("compute_gradient_of_variables")
def test_several_paths_to_one_node():
    """x reaches the output along four paths; its adjoint is their sum."""
    check_backward(lambda x, b: x * x + x * 3.0 + x * b + x, random_inputs([(2, 3), (2, 3)]))


@case("compute_gradient_of_variables")
def test_shared_subexpression():
    def function(a, b):
        c = a * b
        return (c + a) * c + c * 2.0 + 1.0

    check_backward(function, random_inputs([(3, 3), (3, 3)]))


def weighted_sum():
    """``2 a + 3 b`` as an op of the grader's own, on the student's TensorOp; its gradient is two MulScalars.

    Fed one node as both inputs, it tells the two positions apart, as ``x / x`` or
    ``A @ A`` would, where EWiseAdd's and EWiseMul's gradients cannot.
    """
    class WeightedSum(needle().autograd.TensorOp):
        def compute(self, a, b):
            return 2.0 * a + 3.0 * b

        def gradient(self, out_grad, node):
            return out_grad * 2.0, out_grad * 3.0

    return WeightedSum()


@case("compute_gradient_of_variables")
def test_one_node_as_both_inputs():
    """Each input position gets its own gradient, even when one node fills both."""
    def function(x, w):
        h = x * w
        return weighted_sum()(h, h) * x

    check_backward(function, random_inputs([(3, 4), (3, 4)]))


@case("compute_gradient_of_variables")
def test_default_out_grad():
    """backward() with no argument: the gradient of the sum of the output."""
    check_backward(lambda a, b: a * b * a + b, random_inputs([(5,), (5,)]), seed=False)


@case("compute_gradient_of_variables")
def test_gradient_of_gradient_scalar():
    """The course's own example, integers included."""
    ndl = needle()
    x2, x3 = ndl.Tensor([6]), ndl.Tensor([0])
    y = x2 * x2 + x2 * x3
    y.backward()
    grad_x2, grad_x3 = input_grads([x2, x3])
    grad_x2.backward()
    submit("y", y)
    submit("dy_dx2", grad_x2)
    submit("dy_dx3", grad_x3)
    submit("d2y_dx2dx2", x2.grad)
    submit("d2y_dx2dx3", x3.grad)


@case("compute_gradient_of_variables")
def test_gradient_of_gradient_vector():
    ndl = needle()
    x, w = tensors(random_inputs([(5,), (5,)]))
    y = x * x * x * w
    y.backward(ndl.Tensor(rng("out_grad").standard_normal(5)))
    (first,) = input_grads([x])
    first.backward(ndl.Tensor(rng("second out_grad").standard_normal(5)))
    submit("dy_dx", first, norm=1e-6)
    submit("d(dy_dx)_dx", x.grad, norm=1e-6)
    submit("d(dy_dx)_dw", w.grad, norm=1e-6)


@case("compute_gradient_of_variables", advisory=True,
      hint="gradients of gradients through other ops need each op's gradient built from needle ops "
           "(no numpy on the data), so that it can be differentiated again", hint_on=("failed", "AttributeError", "TypeError"))
def test_gradient_of_gradient_through_other_ops():
    ndl = needle()
    (x,) = tensors(random_inputs([(5,)]))
    weights = ndl.Tensor(np.linspace(-1.0, 1.0, 5))
    y = ndl.summation(ndl.power_scalar(x, 3) * weights)
    y.backward()
    (first,) = input_grads([x])
    ndl.summation(ndl.divide_scalar(first * first, 2.0)).backward()
    submit("dy_dx", first, norm=1e-6)
    submit("d_sum_half_dy_dx_squared_dx", x.grad, norm=1e-6)
