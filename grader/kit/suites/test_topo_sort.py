"""Question 3: find_topo_sort gives exactly the post-order depth-first order.

The graphs are built only from what the starter gives complete (Tensor ``+``
and ``*``, with tensors or scalars: EWiseAdd, AddScalar, EWiseMul,
MulScalar), so these cases measure the traversal and nothing else. The
returned nodes are numbered by the grader's own walk of the graph and the
order is compared as numbers; a node that is not in the graph is -1.
"""

from needle_grader_kit.checks import case, random_inputs, submit_order, tensors
from needle_grader_kit.harness import needle

DEPTH_HINT = ("the homework's graphs are shallow, but a real network's are not: a search that recurses once per node "
              "stops at Python's recursion limit (about 1000); keep your own stack instead")


def _sorted(*outputs):
    return needle().autograd.find_topo_sort(list(outputs))


@case("find_topo_sort")
def test_scalar_expression():
    """The course's first example, with its subtraction written as a product."""
    a, b = tensors(random_inputs([(1, 1), (1, 1)]))
    c = 3 * a * a + 4 * b * a + a * -1.0
    submit_order(_sorted(c), [c])


@case("find_topo_sort")
def test_matrix_expression():
    a, b = tensors(random_inputs([(2, 3), (2, 3)]))
    c = 3 * ((b * a) + (2.3412 * b) * a) + 1.5
    submit_order(_sorted(c), [c])


@case("find_topo_sort")
def test_shared_subexpression():
    a, b = tensors(random_inputs([(2, 2), (2, 2)]))
    c = a * b
    d = c + c * a
    e = d * c + (c + 2.0)
    submit_order(_sorted(e), [e])


@case("find_topo_sort")
def test_diamond():
    x, w = tensors(random_inputs([(4, 3), (4, 3)]))
    left, right = x * w, x + w
    y = (left * right + x) * (right + 1.0)
    submit_order(_sorted(y), [y])


@case("find_topo_sort")
def test_same_input_twice():
    (x,) = tensors(random_inputs([(3,)]))
    y = x * x
    z = y * y + y
    submit_order(_sorted(z), [z])


@case("find_topo_sort")
def test_chain_of_240():
    """Longer than any homework graph, well within Python's recursion limit."""
    a, b = tensors(random_inputs([(2,), (2,)]))
    x = a
    for _ in range(120):
        x = x * 0.5 + b
    submit_order(_sorted(x), [x])


@case("find_topo_sort", advisory=True, hint="compute_gradient_of_variables passes one node; the homework's "
      "find_topo_sort takes a list, so sort from each of its nodes in turn", hint_on=("failed",))
def test_several_outputs():
    a, b = tensors(random_inputs([(3,), (3,)]))
    c = a * b
    d = c + a
    e = c * b + 1.0
    submit_order(_sorted(d, e), [d, e])


@case("find_topo_sort", advisory=True, hint=DEPTH_HINT, hint_on=("RecursionError", "timeout"))
def test_deep_chain():
    """2,500 nodes deep: deeper than Python's recursion limit."""
    a, b = tensors(random_inputs([(2,), (2,)]))
    x = a
    for _ in range(2500):
        x = x + b
    submit_order(_sorted(x), [x])
