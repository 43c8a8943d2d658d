"""needle's graph, topological sort and reverse-mode AD."""
import numdifftools as nd
import numpy as np
import pytest

import needle as ndl
from needle.autograd import find_topo_sort, topo_sort_dfs


# ------------------------------------------------------------------ Tensor


def test_tensor_dtypes_follow_numpy_as_in_the_course_starter():
    assert ndl.Tensor([1.0, 2.0, 3.0]).dtype == np.float64  # lists and Python floats: numpy's inference
    assert ndl.Tensor(3.5).dtype == np.float64
    assert ndl.Tensor([6]).dtype == np.int64
    assert ndl.Tensor(np.zeros(2)).dtype == np.float64  # an ndarray keeps its dtype
    assert ndl.Tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert ndl.Tensor(np.zeros(2), dtype="float32").dtype == np.float32
    assert ndl.Tensor([1, 2], dtype=np.float64).dtype == np.float64
    t = ndl.Tensor(np.arange(3.0))
    assert ndl.Tensor(t).dtype == np.float64
    np.testing.assert_array_equal(ndl.Tensor(t, dtype="float32").numpy(), [0, 1, 2])


def test_a_tensor_copies_the_array_it_is_made_from():
    array = np.zeros(3)
    x = ndl.Tensor(array)
    array[0] = 5.0
    assert x.numpy().tolist() == [0.0, 0.0, 0.0]


def test_backward_seeds_float64_ones_as_the_starter_does():
    x = ndl.Tensor(np.array([1.0, 2.0], dtype=np.float32))
    (x * x).backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_ops_on_constants_keep_their_graph():
    c = ndl.Tensor([1.0, 2.0], requires_grad=False)
    d = c * 2
    assert not d.requires_grad and list(d.inputs) == [c] and type(d.op).__name__ == "MulScalar"


def test_tensor_basics():
    x = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape == (2, 2)
    assert x.device == ndl.cpu() and ndl.cpu() in ndl.all_devices()
    assert x.requires_grad and x.is_leaf() and x.grad is None
    assert repr(x).startswith("needle.Tensor(") and "4." in str(x)
    y = (x * 2).sum()
    assert not y.is_leaf() and y.shape == ()
    d = y.detach()
    assert d.is_leaf() and d.inputs == [] and not d.requires_grad
    assert float(d.numpy()) == 20.0


def test_data_property():
    x = ndl.Tensor([1.0, 2.0])
    y = x * 3
    assert y.data.is_leaf() and y.data.numpy().tolist() == [3.0, 6.0]
    x.data = ndl.Tensor([5.0, 6.0])
    assert x.numpy().tolist() == [5.0, 6.0]
    with pytest.raises(ValueError, match="dtype"):
        x.data = ndl.Tensor(np.array([1.0, 2.0], dtype=np.float32))  # float32 into a float64 tensor


def test_operators_with_scalars_on_either_side():
    x = ndl.Tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose((x + 1).numpy(), [2, 3, 5])
    np.testing.assert_allclose((1 + x).numpy(), [2, 3, 5])
    np.testing.assert_allclose((x - 1).numpy(), [0, 1, 3])
    np.testing.assert_allclose((1 - x).numpy(), [0, -1, -3])  # the starter's __rsub__ gives x - 1: fixed here
    np.testing.assert_allclose((x * 2).numpy(), [2, 4, 8])
    np.testing.assert_allclose((2 * x).numpy(), [2, 4, 8])
    np.testing.assert_allclose((x / 2).numpy(), [0.5, 1, 2])
    np.testing.assert_allclose((x**2).numpy(), [1, 4, 16])
    np.testing.assert_allclose((-x).numpy(), [-1, -2, -4])
    np.testing.assert_allclose((x - x).numpy(), [0, 0, 0])
    np.testing.assert_allclose((x / x).numpy(), [1, 1, 1])
    m = ndl.Tensor([[1.0, 2.0]])
    np.testing.assert_allclose((m @ ndl.Tensor([[3.0], [4.0]])).numpy(), [[11.0]])
    np.testing.assert_allclose((x ** ndl.Tensor([2.0, 0.5, 1.0])).numpy(), [1, 2 ** 0.5, 4])  # EWisePow
    with pytest.raises(TypeError):  # as in the starter, which has no __rtruediv__
        2 / x


def test_reflected_operator_gradients():
    x = ndl.Tensor(np.array([1.0, 2.0, 4.0]))
    ((5 - x) + 2 * x**3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -1 + 6 * x.numpy() ** 2)


def test_method_forms():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = ndl.Tensor(a)
    np.testing.assert_array_equal(x.sum().numpy(), a.sum())
    np.testing.assert_array_equal(x.sum(axes=(0, 2)).numpy(), a.sum(axis=(0, 2)))
    np.testing.assert_array_equal(x.transpose().numpy(), np.swapaxes(a, 1, 2))
    np.testing.assert_array_equal(x.transpose((0, 1)).numpy(), np.swapaxes(a, 0, 1))
    np.testing.assert_array_equal(x.reshape((6, 4)).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(x.reshape((1, 2, 3, 4)).broadcast_to((5, 2, 3, 4)).numpy(), np.broadcast_to(a, (5, 2, 3, 4)))


# ------------------------------------------------------------ topological sort


def test_topo_sort_single_path():
    v1 = ndl.Tensor([1.0])
    v2 = ndl.exp(v1)
    v3 = v2 + 1
    v4 = v2 * v3
    assert find_topo_sort([v4]) == [v1, v2, v3, v4]


def test_topo_sort_repeated_subexpressions():
    a = ndl.Tensor([[1.0, 2.0]])
    b = ndl.Tensor([[3.0, 4.0]])
    c = a * b
    e = c * a
    d = c + e
    assert find_topo_sort([d]) == [a, b, c, e, d]
    # same node twice in one op: listed once
    f = c * c
    assert find_topo_sort([f]) == [a, b, c, f]


def test_topo_sort_post_order_left_to_right():
    # the course's example: inputs visited left to right, each node after its inputs
    a1 = ndl.Tensor(np.asarray([[0.88282157]]))
    b1 = ndl.Tensor(np.asarray([[0.90170084]]))
    c1 = 3 * a1 * a1 + 4 * b1 * a1 - a1
    order = find_topo_sort([c1])
    ops = [None if n.op is None else type(n.op).__name__ for n in order]
    assert ops == [
        None, "MulScalar", "EWiseMul", None, "MulScalar", "EWiseMul", "EWiseAdd", "Negate", "EWiseAdd",
    ]
    assert order[0] is a1 and order[3] is b1 and order[-1] is c1


def test_topo_sort_several_outputs():
    a = ndl.Tensor([1.0])
    b = ndl.Tensor([2.0])
    x = a + b
    y = b * x
    z = ndl.exp(a)
    assert find_topo_sort([y, z]) == [b, a, x, y, z]  # y's inputs are (b, x)
    assert find_topo_sort([z, y]) == [a, z, b, x, y]


def test_topo_sort_dfs_helper_appends_post_order():
    a = ndl.Tensor([1.0])
    b = a * 2
    c = b + a
    visited, order = set(), []
    topo_sort_dfs(c, visited, order)
    assert order == [a, b, c] and visited == {a, b, c}
    topo_sort_dfs(b, visited, order)  # all visited: nothing added
    assert order == [a, b, c]


def test_topo_sort_and_backward_on_a_deep_chain():
    depth = 5000
    x = ndl.Tensor(np.array([1.0]))
    nodes = [x]
    for _ in range(depth):
        nodes.append(nodes[-1] + 0.5)
    order = find_topo_sort([nodes[-1]])
    assert len(order) == depth + 1
    assert all(o is n for o, n in zip(order, nodes))
    nodes[-1].backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])
    # a chain whose adjoints are new nodes at every step, too
    y = ndl.Tensor(np.array([2.0]))
    z = y
    for _ in range(depth):
        z = z * 1.0001
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), [1.0001**depth], rtol=1e-9)


# ------------------------------------------------------------ reverse-mode AD


def numeric_gradient(f, arrays, index):
    """numdifftools' gradient of sum(f(*arrays)) with respect to arrays[index]."""
    a = arrays[index]

    def scalar(flat):
        args = list(arrays)
        args[index] = flat.reshape(a.shape)
        return float(np.sum(f(*[ndl.Tensor(x) for x in args]).numpy()))

    return nd.Gradient(scalar)(a.ravel()).reshape(a.shape)


def check_backward(f, *arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [ndl.Tensor(a) for a in arrays]
    f(*tensors).sum().backward()
    for i, t in enumerate(tensors):
        np.testing.assert_allclose(t.grad.numpy(), numeric_gradient(f, arrays, i), rtol=1e-6, atol=1e-6)


def test_backward_of_composite_functions(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    c = rng.uniform(0.5, 1.5, (3, 2))
    check_backward(lambda x, y, z: ndl.log(ndl.exp(x @ y) + z) / z, a, b, c)
    check_backward(lambda x: (x * x * x).sum(axes=(1,)) - ndl.relu(x).sum(axes=(1,)), a)
    check_backward(lambda x, y: ndl.broadcast_to(y.sum(axes=(1,)).reshape((1, 4)), (3, 4)) * x, a, b)
    check_backward(lambda x: (x.transpose() @ x) ** 2, a)


def test_adjoints_from_several_paths_add_up():
    x = ndl.Tensor(np.array([2.0, 3.0]))
    y = x * x + x * 3 + ndl.exp(x) * x
    y.backward(ndl.Tensor(np.array([1.0, 10.0])))
    xs = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.array([1.0, 10.0]) * (2 * xs + 3 + np.exp(xs) * (1 + xs)))


def test_backward_default_out_grad_is_ones():
    x = ndl.Tensor(np.arange(6.0).reshape(2, 3))
    y = x * 2
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    assert y.grad.shape == (2, 3) and y.grad.dtype == np.float64


def test_gradient_of_gradient():
    x2 = ndl.Tensor([6.0])
    x3 = ndl.Tensor([0.0])
    y = x2 * x2 + x2 * x3
    y.backward()
    grad_x2, grad_x3 = x2.grad, x3.grad
    np.testing.assert_allclose(grad_x2.numpy(), [12.0])
    np.testing.assert_allclose(grad_x3.numpy(), [6.0])
    # the gradients are graphs themselves: differentiate again
    grad_x2.backward()
    np.testing.assert_allclose(x2.grad.numpy(), [2.0])
    np.testing.assert_allclose(x3.grad.numpy(), [1.0])


def test_gradient_of_gradient_through_matmul_and_summation(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    x, w = ndl.Tensor(a), ndl.Tensor(b)
    ((x @ w) ** 2).sum().backward()
    # d/dw sum((x w)^2) = 2 x^T (x w); its sum, differentiated wrt x:
    x.grad.detach()
    g = w.grad.sum()
    g.backward()
    ones = np.ones((3, 2))
    # sum(2 x^T x w) -> d/dx = 2 (x w 1^T + x 1 w^T) with the ones of x^T x w's shape
    expected = 2 * (a @ b @ ones.T + a @ ones @ b.T)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10)


def test_float32_backward_through_the_network():
    rng = np.random.default_rng(0)
    X = ndl.Tensor(rng.standard_normal((8, 5)).astype(np.float32), requires_grad=False)
    W1 = ndl.Tensor(rng.standard_normal((5, 4)).astype(np.float32))
    W2 = ndl.Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    Z = ndl.relu(X @ W1) @ W2
    loss = (ndl.log(ndl.exp(Z).sum(axes=(1,))).sum() - (Z * 0.5).sum()) / 8
    loss.backward(ndl.Tensor(np.ones((), dtype=np.float32)))
    assert loss.dtype == np.float32
    assert W1.grad.dtype == np.float32 and W2.grad.dtype == np.float32


def test_tensor_tuple_basics():
    a = ndl.Tensor([1.0, 2.0])
    b = ndl.Tensor([3.0])
    t = ndl.make_tuple(a, b)
    assert isinstance(t, ndl.TensorTuple) and len(t) == 2
    assert t[0] is a  # picking from a fresh tuple folds to the element
    assert [x.numpy().tolist() for x in t.tuple()] == [[1.0, 2.0], [3.0]]
    assert t.detach().is_leaf()
    picked = ndl.ops.TupleGetItem(1)(t, fold_const=False)
    (picked * 4 + a.sum()).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [4.0])
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0])
