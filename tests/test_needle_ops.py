"""needle's ops: forward against numpy, backward against numdifftools."""
import numdifftools as nd
import numpy as np
import pytest

import needle as ndl


def randn(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def positive(rng, shape, dtype=np.float64):
    return rng.uniform(0.5, 2.0, size=shape).astype(dtype)


def check_gradients(f, *arrays, seed=1):
    """Each input's gradient from the op at the root of f(*inputs),
    op.gradient_as_tuple(C, out), against numdifftools' gradient of
    x -> sum(f(x) * C) for a fixed random C (everything in float64)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out = f(*[ndl.Tensor(a) for a in arrays])
    C = np.random.default_rng(seed).standard_normal(out.shape)
    grads = out.op.gradient_as_tuple(ndl.Tensor(C), out)
    assert len(grads) == len(arrays)
    for i, (a, grad) in enumerate(zip(arrays, grads)):

        def weighted_sum(flat, i=i, a=a):
            inputs = [ndl.Tensor(x) for x in arrays]
            inputs[i] = ndl.Tensor(flat.reshape(a.shape))
            return float(np.sum(f(*inputs).numpy() * C))

        numeric = nd.Gradient(weighted_sum)(a.ravel()).reshape(a.shape)
        assert grad.shape == a.shape, "gradient %d has shape %s, input %s" % (i, grad.shape, a.shape)
        np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-6, err_msg="input %d" % i)


# ----------------------------------------------------------------- forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_forward(rng, dtype):
    a, b = randn(rng, (3, 4), dtype), positive(rng, (3, 4), dtype)
    A, B = ndl.Tensor(a), ndl.Tensor(b)
    cases = [
        (ndl.add(A, B), a + b),
        (ndl.add_scalar(A, 1.5), a + 1.5),
        (ndl.multiply(A, B), a * b),
        (ndl.mul_scalar(A, 2.5), a * 2.5),
        (ndl.power_scalar(A, 3), a**3),
        (ndl.divide(A, B), a / b),
        (ndl.divide_scalar(A, 4), a / 4),
        (ndl.negate(A), -a),
        (ndl.log(B), np.log(b)),
        (ndl.exp(A), np.exp(a)),
        (ndl.relu(A), np.maximum(a, 0)),
    ]
    for got, expected in cases:
        assert got.dtype == dtype, got.op
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_divide_forward_exact():
    got = ndl.divide(ndl.Tensor([[3.0, 5.0], [1.0, -8.0]]), ndl.Tensor([[2.0, 4.0], [4.0, 2.0]]))
    np.testing.assert_array_equal(got.numpy(), np.array([[1.5, 1.25], [0.25, -4.0]], dtype=np.float32))
    got = ndl.divide_scalar(ndl.Tensor([[1.0, 2.0, 3.0]]), 4)
    np.testing.assert_array_equal(got.numpy(), np.array([[0.25, 0.5, 0.75]], dtype=np.float32))


@pytest.mark.parametrize(
    "shape, axes, expected_shape",
    [((3, 4), None, (4, 3)), ((2, 3, 4), None, (2, 4, 3)), ((2, 3, 4), (0, 1), (3, 2, 4)), ((2, 3, 4), (0, 2), (4, 3, 2))],
)
def test_transpose_forward(rng, shape, axes, expected_shape):
    a = randn(rng, shape)
    got = ndl.transpose(ndl.Tensor(a), axes)
    expected = np.swapaxes(a, -1, -2) if axes is None else np.swapaxes(a, *axes)
    assert got.shape == expected_shape
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("shape, new_shape", [((3, 4), (12,)), ((2, 3, 4), (4, 6)), ((6,), (1, 2, 3)), ((1,), ())])
def test_reshape_forward(rng, shape, new_shape):
    a = randn(rng, shape)
    np.testing.assert_array_equal(ndl.reshape(ndl.Tensor(a), new_shape).numpy(), a.reshape(new_shape))


@pytest.mark.parametrize(
    "shape, new_shape", [((3,), (2, 3)), ((4, 1), (3, 4, 5)), ((), (3, 3, 3)), ((1,), (3, 3, 3)), ((2, 1, 3), (2, 4, 3))]
)
def test_broadcast_to_forward(rng, shape, new_shape):
    a = randn(rng, shape)
    got = ndl.broadcast_to(ndl.Tensor(a), new_shape)
    np.testing.assert_array_equal(got.numpy(), np.broadcast_to(a, new_shape))


@pytest.mark.parametrize("axes", [None, 0, 1, 2, -1, (0, 2), (1,), (0, 1, 2)])
def test_summation_forward(rng, axes):
    a = randn(rng, (3, 4, 5))
    got = ndl.summation(ndl.Tensor(a), axes)
    expected = np.sum(a, axis=axes)
    assert got.shape == np.shape(expected)
    assert isinstance(got.numpy(), np.ndarray)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


MATMUL_SHAPES = [
    ((5, 4), (4, 3)),
    ((6, 6, 5, 4), (6, 6, 4, 3)),
    ((6, 6, 5, 4), (4, 3)),
    ((5, 4), (6, 6, 4, 3)),
    ((3, 2, 1), (3, 3, 1, 2)),
    ((2, 4), (2, 4, 4, 2)),
]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_forward(rng, shape_a, shape_b):
    a, b = randn(rng, shape_a), randn(rng, shape_b)
    got = ndl.matmul(ndl.Tensor(a), ndl.Tensor(b))
    np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-12)


def test_matmul_forward_exact():
    got = ndl.Tensor([[1.0, 2.0], [3.0, 4.0]]) @ ndl.Tensor([[5.0], [6.0]])
    np.testing.assert_array_equal(got.numpy(), np.array([[17.0], [39.0]], dtype=np.float32))


# ---------------------------------------------------------------- backward


def test_elementwise_backward(rng):
    a, b = randn(rng, (3, 4)), positive(rng, (3, 4))
    check_gradients(ndl.add, a, b)
    check_gradients(lambda x: ndl.add_scalar(x, 2.0), a)
    check_gradients(ndl.multiply, a, b)
    check_gradients(lambda x: ndl.mul_scalar(x, -1.5), a)
    check_gradients(ndl.divide, a, b)
    check_gradients(lambda x: ndl.divide_scalar(x, 3.0), a)
    check_gradients(ndl.negate, a)
    check_gradients(ndl.log, b)
    check_gradients(ndl.exp, a)


@pytest.mark.parametrize("n", [0, 1, 2, 3, -1])
def test_power_scalar_backward(rng, n):
    check_gradients(lambda x: ndl.power_scalar(x, n), positive(rng, (3, 2)))


def test_relu_backward(rng):
    a = randn(rng, (4, 5))
    a[np.abs(a) < 0.1] = 0.5  # keep away from the kink
    check_gradients(ndl.relu, a)


@pytest.mark.parametrize("shape, axes", [((3, 4), None), ((2, 3, 4), None), ((2, 3, 4), (0, 1)), ((2, 3, 4), (0, 2))])
def test_transpose_backward(rng, shape, axes):
    check_gradients(lambda x: ndl.transpose(x, axes), randn(rng, shape))


@pytest.mark.parametrize("shape, new_shape", [((3, 4), (12,)), ((2, 3, 4), (4, 6)), ((1,), ())])
def test_reshape_backward(rng, shape, new_shape):
    check_gradients(lambda x: ndl.reshape(x, new_shape), randn(rng, shape))


@pytest.mark.parametrize(
    "shape, new_shape", [((3,), (2, 3)), ((4, 1), (3, 4, 5)), ((), (3, 3, 3)), ((1,), (3, 3, 3)), ((2, 1, 3), (2, 4, 3))]
)
def test_broadcast_to_backward(rng, shape, new_shape):
    check_gradients(lambda x: ndl.broadcast_to(x, new_shape), randn(rng, shape))


@pytest.mark.parametrize("axes", [None, 1, -1, (0, 2), (0, 1, 2)])
def test_summation_backward(rng, axes):
    check_gradients(lambda x: ndl.summation(x, axes), randn(rng, (3, 4, 5)))


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_backward(rng, shape_a, shape_b):
    check_gradients(ndl.matmul, randn(rng, shape_a), randn(rng, shape_b))


def test_matmul_gradient_skips_inputs_without_requires_grad(rng):
    data = ndl.Tensor(randn(rng, (5, 4)), requires_grad=False)
    weights = ndl.Tensor(randn(rng, (4, 3)))
    out = data @ weights
    grad_data, grad_weights = out.op.gradient_as_tuple(ndl.Tensor(np.ones((5, 3))), out)
    assert grad_data is None
    np.testing.assert_allclose(grad_weights.numpy(), data.numpy().T @ np.ones((5, 3)))
    out.sum().backward()
    assert data.grad is None
    assert weights.grad.shape == (4, 3)


# ------------------------------------------------------------------ dtypes


def _float32_graph_values():
    a = ndl.Tensor(np.linspace(0.5, 2.0, 12, dtype=np.float32).reshape(3, 4))
    b = ndl.Tensor(np.linspace(1.0, 3.0, 12, dtype=np.float32).reshape(3, 4))
    w = ndl.Tensor(np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(4, 2))
    outputs = [
        a + b, a + 1.5, a * b, a * 2.5, a**3, a**-1, a / b, a / 3, 1 - a, -a,
        ndl.log(a), ndl.exp(a), ndl.relu(a), a @ w, a.transpose(), a.reshape((4, 3)),
        ndl.broadcast_to(ndl.reshape(a, (1, 3, 4)), (2, 3, 4)), a.sum(), a.sum(axes=(1,)),
    ]
    return (a, b, w), outputs


def test_float32_stays_float32_forward_and_backward():
    inputs, outputs = _float32_graph_values()
    for out in outputs:
        assert out.dtype == np.float32, out.op
    loss = outputs[0].sum()
    for out in outputs[1:]:
        loss = loss + out.sum()
    loss.backward(ndl.Tensor(np.ones((), dtype=np.float32)))
    for x in inputs:
        assert x.grad.dtype == np.float32
    assert loss.dtype == np.float32


def test_float64_stays_float64(rng):
    a = ndl.Tensor(positive(rng, (3, 4)))
    out = ((a * 2 + 1) / 3 - a**2).sum() / 4
    out.backward()
    assert out.dtype == np.float64 and a.grad.dtype == np.float64


# ------------------------------------------------------------- bad shapes


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(ValueError) as info:
        ndl.matmul(ndl.Tensor(np.ones((2, 3))), ndl.Tensor(np.ones((4, 5))))
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)
    assert "matmul" in str(info.value)


def test_broadcast_to_shape_error_names_both_shapes():
    with pytest.raises(ValueError) as info:
        ndl.broadcast_to(ndl.Tensor(np.ones((2, 3))), (4, 5))
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)
    # numpy assignment would accept this one (it drops leading 1s); broadcasting must not
    with pytest.raises(ValueError):
        ndl.broadcast_to(ndl.Tensor(np.ones((1, 3))), (3,))


def test_reshape_shape_error_names_both_shapes():
    with pytest.raises(ValueError) as info:
        ndl.reshape(ndl.Tensor(np.ones((2, 3))), (4,))
    assert "(2, 3)" in str(info.value) and "(4,)" in str(info.value)
