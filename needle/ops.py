"""Operator implementations.

Each op works on raw arrays in compute() and on Tensors in gradient(); the
gradients are themselves built from these ops, so they can be differentiated
again."""

from typing import Optional, List, Tuple, Union

from .autograd import NDArray
from .autograd import Op, Tensor, Value, TensorOp
from .autograd import TensorTuple, TensorTupleOp
import numpy

# The backend of this homework is numpy; later homeworks swap in their own.
import numpy as array_api


class MakeTensorTuple(TensorTupleOp):
    def compute(self, *args) -> tuple:
        return tuple(args)

    def gradient(self, out_grad, node):
        assert isinstance(out_grad, TensorTuple)
        return tuple([out_grad[i] for i in range(len(out_grad))])


def make_tuple(*args):
    return MakeTensorTuple()(*args)


class TupleGetItem(TensorOp):
    def __init__(self, index):
        self.index = index

    def __call__(self, a: TensorTuple, fold_const=True) -> Value:
        assert isinstance(a, TensorTuple)
        # Picking an element of a freshly made tuple is just that element.
        if fold_const and isinstance(a.op, MakeTensorTuple):
            return a.inputs[self.index]
        return Tensor.make_from_op(self, [a])

    def compute(self, a):
        return a[self.index]

    def gradient(self, out_grad, node):
        # The other elements of the tuple get a zero adjoint.
        index = self.index
        in_grad = []
        for i, value in enumerate(node.inputs[0]):
            if i == index:
                in_grad.append(out_grad)
            else:
                in_grad.append(
                    Tensor.make_const(array_api.zeros(value.shape, dtype=value.dtype))
                )
        return MakeTensorTuple()(*in_grad)


def tuple_get_item(value, index):
    return TupleGetItem(index)(value)


class EWiseAdd(TensorOp):
    def compute(self, a: NDArray, b: NDArray):
        return a + b

    def gradient(self, out_grad: Tensor, node: Tensor):
        return out_grad, out_grad


def add(a, b):
    return EWiseAdd()(a, b)


class AddScalar(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a: NDArray):
        return a + self.scalar

    def gradient(self, out_grad: Tensor, node: Tensor):
        return out_grad


def add_scalar(a, scalar):
    return AddScalar(scalar)(a)


class EWiseMul(TensorOp):
    def compute(self, a: NDArray, b: NDArray):
        return a * b

    def gradient(self, out_grad: Tensor, node: Tensor):
        lhs, rhs = node.inputs
        return out_grad * rhs, out_grad * lhs


def multiply(a, b):
    return EWiseMul()(a, b)


class MulScalar(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a: NDArray):
        return a * self.scalar

    def gradient(self, out_grad: Tensor, node: Tensor):
        return (out_grad * self.scalar,)


def mul_scalar(a, scalar):
    return MulScalar(scalar)(a)


class PowerScalar(TensorOp):
    """x ** n for a Python integer n."""

    def __init__(self, scalar: int):
        self.scalar = scalar

    def compute(self, a: NDArray) -> NDArray:
        ### BEGIN YOUR SOLUTION
        return a**self.scalar
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        a = node.inputs[0]
        n = self.scalar
        if n == 0:
            # constant; and 0 * a**-1 would be nan where a is 0
            return mul_scalar(out_grad, 0)
        # n is a Python number, so mul_scalar keeps a's dtype.
        return mul_scalar(out_grad * power_scalar(a, n - 1), n)
        ### END YOUR SOLUTION


def power_scalar(a, scalar):
    return PowerScalar(scalar)(a)


class EWisePow(TensorOp):
    """a ** b, element by element."""

    def compute(self, a: NDArray, b: NDArray) -> NDArray:
        ### BEGIN YOUR SOLUTION
        return a**b
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        a, b = node.inputs
        # d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log(a), and a^b is node itself
        grad_a = out_grad * b * power(a, add_scalar(b, -1))
        grad_b = out_grad * node * log(a)
        return grad_a, grad_b
        ### END YOUR SOLUTION


def power(a, b):
    return EWisePow()(a, b)


class EWiseDiv(TensorOp):
    """a / b, element by element."""

    def compute(self, a, b):
        ### BEGIN YOUR SOLUTION
        return a / b
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        lhs, rhs = node.inputs
        grad_lhs = out_grad / rhs
        # d(a/b)/db = -a/b**2 = -(1/b)*(a/b), and a/b is node itself
        grad_rhs = -(grad_lhs * node)
        return grad_lhs, grad_rhs
        ### END YOUR SOLUTION


def divide(a, b):
    return EWiseDiv()(a, b)


class DivScalar(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return a / self.scalar
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        return divide_scalar(out_grad, self.scalar)
        ### END YOUR SOLUTION


def divide_scalar(a, scalar):
    return DivScalar(scalar)(a)


class Transpose(TensorOp):
    """Swap two axes: the last two by default, or the pair given in axes."""

    def __init__(self, axes: Optional[tuple] = None):
        self.axes = axes

    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        if self.axes is None:
            return a.swapaxes(-1, -2)
        first, second = self.axes
        return a.swapaxes(first, second)
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        # swapping the same two axes again undoes the swap
        return transpose(out_grad, self.axes)
        ### END YOUR SOLUTION


def transpose(a, axes=None):
    return Transpose(axes)(a)


class Reshape(TensorOp):
    def __init__(self, shape):
        self.shape = shape

    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        try:
            return a.reshape(self.shape)
        except ValueError:
            raise ValueError(
                "reshape: cannot reshape shape %s (size %d) into shape %s"
                % (a.shape, a.size, tuple(self.shape))
            ) from None
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        return reshape(out_grad, node.inputs[0].shape)
        ### END YOUR SOLUTION


def reshape(a, shape):
    return Reshape(shape)(a)


class BroadcastTo(TensorOp):
    def __init__(self, shape):
        self.shape = shape

    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        shape = tuple(self.shape)
        # A fresh array rather than numpy's read-only zero-stride view: the
        # small ops downstream run measurably faster on contiguous data, and
        # the copy is cheap next to the matrix products it feeds.
        out = array_api.empty(shape, dtype=a.dtype)
        try:
            if a.ndim > len(shape):
                raise ValueError  # assignment would drop leading 1s; broadcasting does not
            out[...] = a
        except ValueError:
            raise ValueError(
                "broadcast_to: cannot broadcast shape %s to shape %s" % (a.shape, shape)
            ) from None
        return out
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        in_shape = node.inputs[0].shape
        out_shape = out_grad.shape
        # Every input element was copied along the new leading axes and along
        # the axes where it had size 1; its adjoint is the sum of the copies'.
        n_new = len(out_shape) - len(in_shape)
        axes = tuple(range(n_new)) + tuple(
            n_new + i
            for i, size in enumerate(in_shape)
            if size == 1 and out_shape[n_new + i] != 1
        )
        grad = summation(out_grad, axes) if axes else out_grad
        return reshape(grad, in_shape) if grad.shape != in_shape else grad
        ### END YOUR SOLUTION


def broadcast_to(a, shape):
    return BroadcastTo(shape)(a)


class Summation(TensorOp):
    def __init__(self, axes: Optional[tuple] = None):
        self.axes = axes

    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return a.sum(axis=self.axes)
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        in_shape = node.inputs[0].shape
        # Each input element contributed once to its sum, so its adjoint is
        # the sum's adjoint, copied along the summed axes.
        if self.axes is None:
            # a 0-d adjoint broadcasts to any shape as it is
            return broadcast_to(out_grad, in_shape)
        axes = (self.axes,) if isinstance(self.axes, (int, numpy.integer)) else self.axes
        # put the summed axes back, with size 1, so that broadcasting lines
        # the adjoint up with the right input axes
        kept_shape = list(in_shape)
        for axis in axes:
            kept_shape[axis] = 1
        return broadcast_to(reshape(out_grad, tuple(kept_shape)), in_shape)
        ### END YOUR SOLUTION


def summation(a, axes=None):
    return Summation(axes)(a)


class MatMul(TensorOp):
    def compute(self, a, b):
        ### BEGIN YOUR SOLUTION
        try:
            return a @ b
        except ValueError:
            raise ValueError(
                "matmul: shapes %s and %s are not aligned" % (a.shape, b.shape)
            ) from None
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        lhs, rhs = node.inputs

        def sum_to_shape(grad, shape):
            # An input with fewer (or size-1) batch axes was broadcast
            # against the other; add up the adjoint over the copies.
            if grad.shape == shape:
                return grad
            n_new = len(grad.shape) - len(shape)
            axes = tuple(range(n_new)) + tuple(
                n_new + i
                for i, size in enumerate(shape[:-2])
                if size == 1 and grad.shape[n_new + i] != 1
            )
            if axes:
                grad = reshape(summation(grad, axes), shape)
            return grad

        # A product's adjoint costs as much as the forward product.  Inputs
        # that nobody wants a gradient for (a minibatch of data, say) get
        # None, which compute_gradient_of_variables skips.
        grad_lhs = grad_rhs = None
        if lhs.requires_grad:
            grad_lhs = sum_to_shape(matmul(out_grad, transpose(rhs)), lhs.shape)
        if rhs.requires_grad:
            grad_rhs = sum_to_shape(matmul(transpose(lhs), out_grad), rhs.shape)
        return grad_lhs, grad_rhs
        ### END YOUR SOLUTION


def matmul(a, b):
    return MatMul()(a, b)


class Negate(TensorOp):
    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return -a
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        return negate(out_grad)
        ### END YOUR SOLUTION


def negate(a):
    return Negate()(a)


class Log(TensorOp):
    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return array_api.log(a)
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        return out_grad / node.inputs[0]
        ### END YOUR SOLUTION


def log(a):
    return Log()(a)


class Exp(TensorOp):
    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return array_api.exp(a)
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        # exp is its own derivative, and node already holds exp(a)
        return out_grad * node
        ### END YOUR SOLUTION


def exp(a):
    return Exp()(a)


class ReLU(TensorOp):
    def compute(self, a):
        ### BEGIN YOUR SOLUTION
        return array_api.maximum(a, 0)
        ### END YOUR SOLUTION

    def gradient(self, out_grad, node):
        ### BEGIN YOUR SOLUTION
        # ReLU' is a step function whose own derivative is zero wherever it
        # exists, so a constant mask (read from the data) loses nothing.
        # A boolean mask multiplies without changing out_grad's dtype.
        mask = Tensor.make_const(node.realize_cached_data() > 0)
        return out_grad * mask
        ### END YOUR SOLUTION


def relu(a):
    return ReLU()(a)
