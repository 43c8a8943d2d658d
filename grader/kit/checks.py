"""Building blocks the suites share: inputs, an op's forward, its gradient, a graph's nodes.

Inputs are of the kinds the course's own checks use: float64 drawn from a
normal distribution, and tolerances no stricter than the course's for the
same kind of value (see the README's table).
"""

import numpy as np
import pytest

from .harness import CaseError, as_array, needle, numeric_gradient, rng, submit, submit_gradient

# The course's gradient check: the norm of the difference from the true gradient.
OP_GRADIENT_NORM = 1e-6

# 2-D, batched, and batch dimensions broadcast on either side.
MATMUL_SHAPES = [((5, 4), (4, 3)), ((6, 5, 4), (6, 4, 3)), ((6, 6, 5, 4), (4, 3)), ((5, 4), (6, 6, 4, 3)),
                 ((3, 2, 1), (3, 3, 1, 2)), ((2, 4), (2, 4, 4, 2))]


def case(*checks, **meta):
    """Grading metadata of a case: the student functions it grades, and weight, timeout, advisory, hint."""
    return pytest.mark.case(checks=checks, **meta)


def shape_id(shape):
    return "x".join(map(str, shape)) or "scalar"


def random_inputs(shapes, dtype="float64", low=None, positive=False, away_from_zero=0.0, stream="inputs"):
    """Arrays of the given shapes drawn from the case's generator (one stream per name)."""
    generator = rng(stream)
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


# Inputs no smaller than those of the course's forward checks, wherever a smoothing epsilon
# could make a difference: what those checks accept is then accepted here (see the README).
# log(x + eps) is off by eps / x, and rtol 1e-7 allows 1e-7 * log(x): the epsilons allowed grow
# with x * log(x), so inputs of at least 4.0, the smallest of the course's log check, allow every
# epsilon it allows. x / (d + eps) is off by eps / d relative: divisors no smaller than the course's.
LOG_SMALLEST_INPUT = 4.0
SMALLEST_DIVISOR = 0.65   # the course divides by 0.65 to 4.8, and by the scalar 12


def log_inputs(shape):
    """Inputs of at least ``LOG_SMALLEST_INPUT``, for log's forward and gradient."""
    return random_inputs([shape], positive=True, low=LOG_SMALLEST_INPUT - 0.5)   # positive is |x| + 0.5


# From 2024 the notebook tests log and exp with questions 1 and 2; before, with question 5.
LOG_EXP_IN_Q1_Q2 = ("2024", "2025")
LOG_EXP_IN_Q5 = ("2022", "2023")


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
    """The op's own ``gradient`` for a random out_grad, as ``gradient_as_tuple`` returns it.

    ``function`` applies one op to Tensors. Its ``gradient`` is called directly,
    never through ``backward()``: this grades the op, not the reverse-mode pass.
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
        submit_gradient(f"grad[{index}]", grad, norm=OP_GRADIENT_NORM)


def input_grads(inputs):
    """The ``.grad`` of each input after ``backward()``; a missing one fails the case."""
    grads = []
    for index, tensor in enumerate(inputs):
        grad = getattr(tensor, "grad", None)
        if grad is None:
            raise CaseError(f"input {index} has no .grad after backward()")
        grads.append(grad)
    return grads


def check_backward(function, arrays, seed=True, numeric=False, norm=OP_GRADIENT_NORM):
    """Gradients of every input after ``function(...).backward()``.

    With ``seed`` the backward pass starts from a random out_grad, else from
    backward()'s default. With ``numeric``, the numerical gradient of the
    submission's own forward goes beside each, to explain a failure.
    """
    ndl = needle()
    inputs = tensors(arrays)
    out = function(*inputs)
    weights = rng("out_grad").standard_normal(out.shape) if seed else np.ones(out.shape)
    if seed:
        out.backward(ndl.Tensor(weights.astype(out.dtype)))
    else:
        out.backward()
    for index, grad in enumerate(input_grads(inputs)):
        estimate = numeric_gradient(lambda *xs: _weighted_sum(function, xs, weights), arrays, index) if numeric else None
        submit_gradient(f"grad[{index}]", grad, estimate, norm=norm)


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
