"""Building blocks the suites share: inputs, an op's forward, its gradient, a graph's nodes."""

import numpy as np

from .harness import CaseError, as_array, needle, numeric_gradient, rng, submit, submit_gradient

# 2-D, batched, and batch dimensions broadcast on either side.
MATMUL_SHAPES = [((5, 4), (4, 3)), ((6, 5, 4), (6, 4, 3)), ((6, 6, 5, 4), (4, 3)), ((5, 4), (6, 6, 4, 3)),
                 ((3, 2, 1), (3, 3, 1, 2)), ((2, 4), (2, 4, 4, 2))]


def shape_id(shape):
    return "x".join(map(str, shape)) or "scalar"


def random_inputs(shapes, dtype="float64", low=None, positive=False, away_from_zero=0.0):
    """Arrays of the given shapes drawn from the case's generator."""
    generator = rng("inputs")
    arrays = []
    for shape in shapes:
        values = generator.standard_normal(shape)
        if positive:
            values = np.abs(values) + 0.5
        if away_from_zero:
            values = np.where(values >= 0, values + away_from_zero, values - away_from_zero)
        if low is not None:
            values = values + low
        arrays.append(np.asarray(values, dtype=dtype))
    return arrays


def one_hot(labels, classes=10, dtype=np.float32):
    """Rows of zeros with a 1 at each label."""
    encoded = np.zeros((labels.shape[0], classes), dtype=dtype)
    encoded[np.arange(labels.shape[0]), labels] = 1
    return encoded


def tensors(arrays):
    ndl = needle()
    return [ndl.Tensor(np.array(a, copy=True)) for a in arrays]


def check_forward(function, arrays, name="out"):
    """Submit ``function`` applied to Tensors of ``arrays``."""
    out = function(*tensors(arrays))
    submit(name, out)


def check_op_gradient(function, arrays):
    """The op's own ``gradient`` for a random out_grad, beside the numerical gradient.

    ``function`` applies one op to Tensors. Its ``gradient`` is called directly
    (as ``gradient_as_tuple``), so this tests the op, not the reverse-mode pass.
    """
    ndl = needle()
    inputs = tensors(arrays)
    out = function(*inputs)
    if not isinstance(out, ndl.Tensor) or out.op is None:
        raise CaseError(f"the op returned {type(out).__name__} without an op, expected a Tensor made by the op")
    out_grad = rng("out_grad").standard_normal(out.shape).astype(out.dtype)
    grads = out.op.gradient_as_tuple(ndl.Tensor(out_grad), out)
    if len(grads) != len(arrays):
        raise CaseError(f"gradient returned {len(grads)} values for an op with {len(arrays)} inputs")
    for index, grad in enumerate(grads):
        numeric = numeric_gradient(lambda *xs: _weighted_sum(function, xs, out_grad), arrays, index)
        submit_gradient(f"grad[{index}]", grad, numeric)


def check_backward(function, arrays):
    """Gradients of every input after ``.backward()`` of ``function``, beside numerical ones."""
    ndl = needle()
    inputs = tensors(arrays)
    out = function(*inputs)
    out_grad = rng("out_grad").standard_normal(out.shape).astype(out.dtype)
    out.backward(ndl.Tensor(out_grad))
    for index, tensor in enumerate(inputs):
        if tensor.grad is None:
            raise CaseError(f"input {index} has no .grad after backward()")
        numeric = numeric_gradient(lambda *xs: _weighted_sum(function, xs, out_grad), arrays, index)
        submit_gradient(f"grad[{index}]", tensor.grad, numeric)


def _weighted_sum(function, arrays, weights):
    out = as_array(function(*tensors(arrays)), "the forward")
    return float((np.asarray(out, dtype=np.float64) * weights).sum())


def graph_ids(outputs):
    """Number the nodes reachable from ``outputs`` in a fixed order of the grader's own.

    The order is a pre-order walk over ``.inputs``: it depends only on the
    graph, never on the submission's topological sort.
    """
    ids, stack = {}, list(reversed(outputs))
    while stack:
        node = stack.pop()
        if id(node) in ids:
            continue
        ids[id(node)] = len(ids)
        stack.extend(reversed(list(node.inputs)))
    return ids


def submit_order(order, outputs, name="order"):
    """Submit a topological order as the grader's node numbers (-1 for a node not in the graph)."""
    if order is None:
        raise CaseError("find_topo_sort returned None")
    ids = graph_ids(outputs)
    submit(name, np.array([ids.get(id(node), -1) for node in order], dtype=np.int64).reshape(-1))
