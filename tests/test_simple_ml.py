"""simple_ml: parse_mnist, softmax_loss, nn_epoch (and loss_err)."""
import gzip

import numdifftools as nd
import numpy as np
import pytest

import needle as ndl
from grader.kit import idx
from needle.simple_ml import loss_err, nn_epoch, parse_mnist, softmax_loss


def one_hot(y, classes, dtype=np.float32):
    out = np.zeros((y.shape[0], classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def numpy_softmax_loss(Z, y):
    Z = Z.astype(np.float64)
    return np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(y.shape[0]), y])


def network_loss(X, y, W1, W2):
    return numpy_softmax_loss(np.maximum(X @ W1, 0) @ W2, y)


def init_weights(seed, inputs, hidden, classes, dtype=np.float32):
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((inputs, hidden)) / np.sqrt(hidden)).astype(dtype)
    W2 = (rng.standard_normal((hidden, classes)) / np.sqrt(classes)).astype(dtype)
    return W1, W2


def evaluate(X, y, W1, W2):
    return loss_err(ndl.relu(ndl.Tensor(X) @ W1) @ W2, y)


# ------------------------------------------------------------- parse_mnist


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_parse_mnist_reads_what_was_written(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    image_path, label_path = str(tmp_path / ("i" + suffix)), str(tmp_path / ("l" + suffix))
    idx.write_idx_images(image_path, images)
    idx.write_idx_labels(label_path, labels)
    X, y = parse_mnist(image_path, label_path)
    assert X.dtype == np.float32 and X.shape == (7, 15)
    assert y.dtype == np.uint8 and y.shape == (7,)
    np.testing.assert_array_equal(X, images.reshape(7, 15).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, labels)


def test_parse_mnist_generated(generated_mnist):
    X, y = parse_mnist(*generated_mnist)
    assert X.shape == (1000, 784) and X.dtype == np.float32
    assert y.shape == (1000,) and y.dtype == np.uint8
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert np.bincount(y).tolist() == [100] * 10


def test_parse_mnist_real(real_mnist_dir):
    X, y = parse_mnist(str(real_mnist_dir / "t10k-images-idx3-ubyte.gz"), str(real_mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert X.min() == 0.0 and X.max() == 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@pytest.fixture
def small_idx(tmp_path):
    """A valid pair of gzipped IDX files of 5 examples."""
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    image_path, label_path = tmp_path / "imgs-idx3-ubyte.gz", tmp_path / "labs-idx1-ubyte.gz"
    idx.write_idx_images(str(image_path), images)
    idx.write_idx_labels(str(label_path), np.arange(5, dtype=np.uint8))
    return image_path, label_path


def test_parse_mnist_missing_file(small_idx, tmp_path):
    image_path, _ = small_idx
    missing = tmp_path / "no-such-labels.gz"
    with pytest.raises(FileNotFoundError) as info:
        parse_mnist(str(image_path), str(missing))
    assert "no-such-labels.gz" in str(info.value)


def test_parse_mnist_truncated_gzip(small_idx):
    image_path, label_path = small_idx
    data = image_path.read_bytes()
    image_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        parse_mnist(str(image_path), str(label_path))
    message = str(info.value)
    assert "imgs-idx3-ubyte.gz" in message and "truncated" in message


def test_parse_mnist_truncated_data(small_idx):
    image_path, label_path = small_idx
    raw = gzip.decompress(image_path.read_bytes())
    image_path.write_bytes(gzip.compress(raw[:-10]))  # a valid gzip stream of too few pixels
    with pytest.raises(ValueError) as info:
        parse_mnist(str(image_path), str(label_path))
    message = str(info.value)
    assert "imgs-idx3-ubyte.gz" in message and "truncated" in message


def test_parse_mnist_truncated_header(small_idx):
    image_path, label_path = small_idx
    label_path.write_bytes(gzip.compress(b"\x00\x00\x08"))
    with pytest.raises(ValueError) as info:
        parse_mnist(str(image_path), str(label_path))
    assert "labs-idx1-ubyte.gz" in str(info.value) and "truncated" in str(info.value)


def test_parse_mnist_bad_magic_number(small_idx):
    image_path, label_path = small_idx
    # labels where the images should be
    with pytest.raises(ValueError) as info:
        parse_mnist(str(label_path), str(label_path))
    message = str(info.value)
    assert "labs-idx1-ubyte.gz" in message and "bad magic number 2049" in message and "2051" in message
    # not IDX at all
    image_path.write_bytes(b"hello, this is not an IDX file at all")
    with pytest.raises(ValueError) as info:
        parse_mnist(str(image_path), str(label_path))
    assert "imgs-idx3-ubyte.gz" in str(info.value) and "bad magic number" in str(info.value)


def test_parse_mnist_count_mismatch(small_idx):
    image_path, label_path = small_idx
    idx.write_idx_labels(str(label_path), np.arange(4, dtype=np.uint8))
    with pytest.raises(ValueError) as info:
        parse_mnist(str(image_path), str(label_path))
    message = str(info.value)
    assert "imgs-idx3-ubyte.gz" in message and "labs-idx1-ubyte.gz" in message
    assert "4 labels" in message and "5 images" in message


# ------------------------------------------------------------ softmax_loss


def test_softmax_loss_of_zero_logits_is_log_k():
    y = np.array([0, 3, 9, 2, 2])
    loss = softmax_loss(ndl.Tensor(np.zeros((5, 10), dtype=np.float32)), ndl.Tensor(one_hot(y, 10)))
    assert isinstance(loss, ndl.Tensor) and loss.shape == () and loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy(), np.log(10), rtol=1e-6)


def test_softmax_loss_matches_numpy_and_its_gradient_the_numerical_one():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, size=6)
    Y = ndl.Tensor(one_hot(y, 4, np.float64))
    logits = ndl.Tensor(Z)
    loss = softmax_loss(logits, Y)
    np.testing.assert_allclose(loss.numpy(), numpy_softmax_loss(Z, y), rtol=1e-12)
    loss.backward()
    numeric = nd.Gradient(lambda z: numpy_softmax_loss(z.reshape(Z.shape), y))(Z.ravel()).reshape(Z.shape)
    np.testing.assert_allclose(logits.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_loss_err():
    h = ndl.Tensor(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0]], dtype=np.float32))
    loss, err = loss_err(h, np.array([0, 1]))
    np.testing.assert_allclose(loss, numpy_softmax_loss(h.numpy(), np.array([0, 1])), rtol=1e-6)
    assert err == 0.5


# ---------------------------------------------------------------- nn_epoch


def test_one_step_is_minus_lr_times_the_gradient():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 5))
    y = rng.integers(0, 3, size=50).astype(np.uint8)
    W1, W2 = init_weights(5, 5, 10, 3, dtype=np.float64)
    new_W1, new_W2 = nn_epoch(X, y, ndl.Tensor(W1), ndl.Tensor(W2), lr=1.0, batch=50)
    grad_W1 = nd.Gradient(lambda w: network_loss(X, y, w.reshape(W1.shape), W2))(W1.ravel()).reshape(W1.shape)
    grad_W2 = nd.Gradient(lambda w: network_loss(X, y, W1, w.reshape(W2.shape)))(W2.ravel()).reshape(W2.shape)
    np.testing.assert_allclose(W1 - new_W1.numpy(), grad_W1, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(W2 - new_W2.numpy(), grad_W2, rtol=1e-6, atol=1e-9)


def test_epoch_is_sgd_over_batches_in_order():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 6)).astype(np.float32)
    y = rng.integers(0, 4, size=60).astype(np.uint8)
    W1, W2 = init_weights(6, 6, 8, 4)
    new_W1, new_W2 = nn_epoch(X, y, ndl.Tensor(W1), ndl.Tensor(W2), lr=0.3, batch=20)
    # the same steps by hand, in float64
    w1, w2 = W1.astype(np.float64), W2.astype(np.float64)
    for start in range(0, 60, 20):
        xb, yb = X[start:start + 20].astype(np.float64), y[start:start + 20]
        h = np.maximum(xb @ w1, 0)
        e = np.exp(h @ w2)
        g2 = (e / e.sum(axis=1, keepdims=True) - one_hot(yb, 4, np.float64)) / 20
        g1 = (h > 0) * (g2 @ w2.T)
        w1, w2 = w1 - 0.3 * xb.T @ g1, w2 - 0.3 * h.T @ g2
    np.testing.assert_allclose(new_W1.numpy(), w1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_W2.numpy(), w2, rtol=1e-4, atol=1e-5)


def test_epoch_keeps_float32_and_no_graph():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=40).astype(np.uint8)
    W1, W2 = init_weights(7, 5, 4, 3)
    inputs = ndl.Tensor(W1), ndl.Tensor(W2)
    new_W1, new_W2 = nn_epoch(X, y, *inputs, lr=np.float64(0.1), batch=10)
    for w in (new_W1, new_W2):
        assert isinstance(w, ndl.Tensor) and w.dtype == np.float32
        assert w.is_leaf() and w.inputs == [] and w.grad is None
    # the caller's weights are left as they were
    np.testing.assert_array_equal(inputs[0].numpy(), W1)
    np.testing.assert_array_equal(inputs[1].numpy(), W2)


def test_epoch_learns_the_generated_dataset(generated_mnist):
    X, y = parse_mnist(*generated_mnist)
    W1, W2 = (ndl.Tensor(w) for w in init_weights(0, 784, 100, 10))
    loss_before, _ = evaluate(X, y, W1, W2)
    W1, W2 = nn_epoch(X, y, W1, W2, lr=0.2, batch=100)
    loss_after, err_after = evaluate(X, y, W1, W2)
    # measured: loss 3.4 -> 0.41, error 0.11
    assert loss_after < 0.6 < loss_before
    assert err_after < 0.2


def test_epoch_on_real_mnist(real_mnist_dir):
    X, y = parse_mnist(str(real_mnist_dir / "t10k-images-idx3-ubyte.gz"), str(real_mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    W1, W2 = (ndl.Tensor(w) for w in init_weights(0, 784, 100, 10))
    loss_before, err_before = evaluate(X, y, W1, W2)
    W1, W2 = nn_epoch(X, y, W1, W2, lr=0.2, batch=100)
    loss_after, err_after = evaluate(X, y, W1, W2)
    assert W1.dtype == np.float32 and W2.dtype == np.float32
    # measured: loss 3.97 -> 0.323, error 0.93 -> 0.0935
    assert loss_before > 3.0 and err_before > 0.8
    assert loss_after < 0.4
    assert err_after < 0.12
