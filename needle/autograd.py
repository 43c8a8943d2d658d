"""Core data structures of needle: values in a computational graph, the
operators that produce them, and reverse-mode automatic differentiation."""
import needle
from functools import reduce
from operator import add
from typing import Dict, List, Optional, Tuple, Union

import numpy

from .backend_numpy import Device, cpu, all_devices

# Tensors compute their value as soon as they are created.  With LAZY_MODE
# set, they wait until someone asks for realize_cached_data().
LAZY_MODE = False

# needle will get its own array library later in the course; until then the
# backend is plain numpy, under a name that makes the later switch a one-liner.
import numpy as array_api

NDArray = numpy.ndarray


class Op:
    """An operator: computes a value from its inputs and knows how to carry
    an adjoint back to them."""

    def __call__(self, *args):
        raise NotImplementedError()

    def compute(self, *args: Tuple[NDArray]):
        """Forward pass: map the inputs' raw arrays (NDArray, i.e. numpy
        arrays here) to the output's raw array."""
        raise NotImplementedError()

    def gradient(
        self, out_grad: "Value", node: "Value"
    ) -> Union["Value", Tuple["Value"]]:
        """Backward pass: given out_grad, the adjoint of `node` (a value this
        op produced), return the partial adjoint of each of node.inputs, one
        per input and shaped like it.  Built from needle ops, not raw arrays,
        so that the result is itself differentiable.

        An op may return None instead of the adjoint of an input whose
        requires_grad is False, when computing it would be costly."""
        raise NotImplementedError()

    def gradient_as_tuple(self, out_grad: "Value", node: "Value") -> Tuple["Value"]:
        """gradient(), but always as a tuple, even for one input."""
        output = self.gradient(out_grad, node)
        if isinstance(output, tuple):
            return output
        elif isinstance(output, list):
            return tuple(output)
        else:
            return (output,)


class TensorOp(Op):
    """An op whose result is a Tensor."""

    def __call__(self, *args):
        return Tensor.make_from_op(self, args)


class TensorTupleOp(Op):
    """An op whose result is a TensorTuple."""

    def __call__(self, *args):
        return TensorTuple.make_from_op(self, args)


class Value:
    """A value in the computational graph: either a leaf holding data or the
    result of an op applied to other values."""

    op: Optional[Op]  # None for a leaf
    inputs: List["Value"]
    cached_data: NDArray
    requires_grad: bool

    def realize_cached_data(self):
        """The value's array, computing it (once) if it is not there yet."""
        if self.cached_data is not None:
            return self.cached_data
        data = self.op.compute(*[x.realize_cached_data() for x in self.inputs])
        # numpy hands back scalars, not 0-d arrays, from reductions and from
        # ufuncs on 0-d input; keep every tensor's data an ndarray.
        if isinstance(data, numpy.generic):
            data = array_api.asarray(data)
        self.cached_data = data
        return data

    def is_leaf(self):
        return self.op is None

    def _init(
        self,
        op: Optional[Op],
        inputs: List["Tensor"],
        *,
        num_outputs: int = 1,
        cached_data: List[object] = None,
        requires_grad: Optional[bool] = None
    ):
        if requires_grad is None:
            # a plain loop: any() with a generator costs more, on every op
            requires_grad = False
            for x in inputs:
                if x.requires_grad:
                    requires_grad = True
                    break
        self.op = op
        self.inputs = inputs
        self.num_outputs = num_outputs
        self.cached_data = cached_data
        self.requires_grad = requires_grad
        self.grad = None

    @classmethod
    def make_const(cls, data, requires_grad=False):
        if isinstance(data, Value):
            data = data.realize_cached_data()
        value = cls.__new__(cls)
        value._init(None, [], cached_data=data, requires_grad=requires_grad)
        return value

    @classmethod
    def make_from_op(cls, op: Op, inputs: List["Value"]):
        value = cls.__new__(cls)
        value._init(op, inputs)
        if not LAZY_MODE:
            value.realize_cached_data()
        return value


class TensorTuple(Value):
    """A tuple of tensors produced by a TensorTupleOp (used from later
    homeworks on; here only the basics)."""

    def __len__(self):
        return len(self.realize_cached_data())

    def __getitem__(self, index: int):
        return needle.ops.tuple_get_item(self, index)

    def tuple(self):
        return tuple([x for x in self])

    def __repr__(self):
        return "needle.TensorTuple" + str(self.tuple())

    def __str__(self):
        return self.__repr__()

    def detach(self):
        """A constant with the same data, cut off from the graph."""
        return TensorTuple.make_const(self.realize_cached_data())


class Tensor(Value):
    grad: "Tensor"

    def __init__(
        self,
        array,
        *,
        device: Optional[Device] = None,
        dtype=None,
        requires_grad=True,
        **kwargs
    ):
        if isinstance(array, Tensor):
            array = array.realize_cached_data()
        self._init(
            None,
            [],
            cached_data=Tensor._array_from_numpy(array, dtype=dtype),
            requires_grad=requires_grad,
        )

    @staticmethod
    def _array_from_numpy(numpy_array, dtype):
        # As in the course's starter: a copy, with numpy's own dtype inference
        # (Python floats and lists of them are float64; arrays keep theirs).
        return array_api.array(numpy_array, dtype=dtype)

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(
                "Tensor.data must be set to a Tensor, got %s" % type(value).__name__
            )
        if value.dtype != self.dtype:
            raise ValueError(
                "Tensor.data: dtype %s does not match this tensor's dtype %s"
                % (value.dtype, self.dtype)
            )
        self.cached_data = value.realize_cached_data()

    def detach(self):
        """A constant tensor with the same data, cut off from the graph."""
        return Tensor.make_const(self.realize_cached_data())

    @property
    def shape(self):
        return self.realize_cached_data().shape

    @property
    def dtype(self):
        return self.realize_cached_data().dtype

    @property
    def device(self):
        return cpu()

    def backward(self, out_grad=None):
        if out_grad is None:
            # as in the course's starter: float64 ones, whatever this tensor's dtype
            out_grad = Tensor(numpy.ones(self.shape))
        compute_gradient_of_variables(self, out_grad)

    def __repr__(self):
        return "needle.Tensor(" + str(self.realize_cached_data()) + ")"

    def __str__(self):
        return self.realize_cached_data().__str__()

    def numpy(self):
        # the backend is numpy, so this is the data itself, not a copy
        return self.realize_cached_data()

    def __add__(self, other):
        if isinstance(other, Tensor):
            return needle.ops.EWiseAdd()(self, other)
        else:
            return needle.ops.AddScalar(other)(self)

    def __mul__(self, other):
        if isinstance(other, Tensor):
            return needle.ops.EWiseMul()(self, other)
        else:
            return needle.ops.MulScalar(other)(self)

    def __pow__(self, other):
        if isinstance(other, Tensor):
            return needle.ops.EWisePow()(self, other)
        return needle.ops.PowerScalar(other)(self)

    def __sub__(self, other):
        if isinstance(other, Tensor):
            return needle.ops.EWiseAdd()(self, needle.ops.Negate()(other))
        else:
            return needle.ops.AddScalar(-other)(self)

    def __rsub__(self, other):
        # other - self, for a scalar other
        return needle.ops.AddScalar(other)(needle.ops.Negate()(self))

    def __truediv__(self, other):
        if isinstance(other, Tensor):
            return needle.ops.EWiseDiv()(self, other)
        else:
            return needle.ops.DivScalar(other)(self)

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            other = Tensor(other, requires_grad=False)
        return needle.ops.MatMul()(self, other)

    def __rmatmul__(self, other):
        return needle.ops.MatMul()(Tensor(other, requires_grad=False), self)

    def matmul(self, other):
        return self.__matmul__(other)

    def sum(self, axes=None):
        return needle.ops.Summation(axes)(self)

    def broadcast_to(self, shape):
        return needle.ops.BroadcastTo(shape)(self)

    def reshape(self, shape):
        return needle.ops.Reshape(shape)(self)

    def __neg__(self):
        return needle.ops.Negate()(self)

    def transpose(self, axes=None):
        return needle.ops.Transpose(axes)(self)

    __radd__ = __add__
    __rmul__ = __mul__


def compute_gradient_of_variables(output_tensor, out_grad):
    """Reverse-mode AD: set .grad on every node that output_tensor depends
    on, given out_grad, the adjoint of output_tensor itself.

    For a non-scalar output this is the gradient of sum(output * out_grad).
    """
    # node -> the partial adjoints that its consumers have sent back so far
    node_to_output_grads_list: Dict[Tensor, List[Tensor]] = {}
    node_to_output_grads_list[output_tensor] = [out_grad]

    # Consumers before producers, starting from the output.
    reverse_topo_order = list(reversed(find_topo_sort([output_tensor])))

    ### BEGIN YOUR SOLUTION
    for node in reverse_topo_order:
        # Every consumer of node comes before it in this order, so all of
        # its partial adjoints have arrived by now.
        partials = node_to_output_grads_list.pop(node, None)
        if partials is None:
            continue  # no gradient wanted here (see MatMul.gradient)
        node.grad = sum_node_list(partials)
        if node.op is None:
            continue
        for inp, partial in zip(node.inputs, node.op.gradient_as_tuple(node.grad, node)):
            # an op may answer None for an input with requires_grad=False
            if partial is not None:
                node_to_output_grads_list.setdefault(inp, []).append(partial)
    ### END YOUR SOLUTION


def find_topo_sort(node_list: List[Value]) -> List[Value]:
    """All nodes that the given nodes depend on (and they themselves), each
    after all of its inputs.

    The order is that of a post-order depth-first search from each node of
    node_list in turn, following input edges left to right; a node reached a
    second time is not listed again.
    """
    ### BEGIN YOUR SOLUTION
    visited = set()
    topo_order = []
    for node in node_list:
        topo_sort_dfs(node, visited, topo_order)
    return topo_order
    ### END YOUR SOLUTION


def topo_sort_dfs(node, visited, topo_order):
    """Append to topo_order, in post-order, every node reachable from node
    that is not yet in visited (and add them to visited)."""
    ### BEGIN YOUR SOLUTION
    # The recursive version (visit each input, then append the node) would
    # hit Python's recursion limit on long chains.  An explicit stack of
    # (node, iterator over its inputs) produces exactly the same order.
    if node in visited:
        return
    visited.add(node)
    stack = [(node, iter(node.inputs))]
    while stack:
        current, pending_inputs = stack[-1]
        for child in pending_inputs:
            if child not in visited:
                visited.add(child)
                stack.append((child, iter(child.inputs)))
                break
        else:
            # all inputs done: post-order position reached
            stack.pop()
            topo_order.append(current)
    ### END YOUR SOLUTION


# Helpers


def sum_node_list(node_list):
    """Add up a non-empty list of tensors with needle ops.  (Python's sum()
    would start from 0 and put a needless AddScalar into the graph.)"""
    if len(node_list) == 1:
        return node_list[0]
    return reduce(add, node_list)
