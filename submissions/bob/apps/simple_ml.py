"""A two-layer network for MNIST, trained with needle's automatic
differentiation (handed out as apps/simple_ml.py)."""
import struct
import gzip
import numpy as np

import sys
sys.path.append("python/")
import needle as ndl


def parse_mnist(image_filename, label_filename):
    """Read an images file and a labels file in the (optionally gzipped) IDX
    format of MNIST.

    Args:
        image_filename (str): IDX images file (magic number 2051), uint8
            pixels, n x rows x cols.
        label_filename (str): IDX labels file (magic number 2049), n uint8
            labels.

    Returns:
        Tuple (X, y):
            X (numpy.ndarray[np.float32]): 2-D array of shape
                (n, rows * cols), one image per row, pixels scaled to [0, 1].
            y (numpy.ndarray[np.uint8]): 1-D array of shape (n,), the labels.

    Raises FileNotFoundError for a missing file and ValueError, naming the
    file, for anything that is not a complete IDX file of the right kind.
    """
    ### BEGIN YOUR SOLUTION
    def _open(name):
        return gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb")

    with _open(image_filename) as f:
        data = f.read()
    if len(data) < 16:
        raise ValueError("bad image file " + image_filename)
    magic, num, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051 or len(data) != 16 + num * rows * cols:
        raise ValueError("bad image file " + image_filename)
    X = np.frombuffer(data[16:], dtype=np.uint8).reshape(num, rows * cols)
    X = X.astype(np.float32) / 255.0

    with _open(label_filename) as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("bad label file " + label_filename)
    magic, num_labels = struct.unpack(">II", data[:8])
    if magic != 2049 or len(data) != 8 + num_labels or num_labels != num:
        raise ValueError("bad label file " + label_filename)
    y = np.frombuffer(data[8:], dtype=np.uint8).copy()
    return X, y
    ### END YOUR SOLUTION


def softmax_loss(Z, y_one_hot):
    """The softmax (cross-entropy) loss, averaged over a batch, as a Tensor.

    Z holds one row of logits per example, shape (batch, classes);
    y_one_hot has the same shape, a 1 in each row at the true class and 0
    elsewhere.  For one example the loss is log(sum_i exp(z_i)) - z_y.
    Computing log-sum-exp directly, without shifting by the row maximum, is
    fine for this homework (there is no max op yet).
    """
    ### BEGIN YOUR SOLUTION
    exp_sum = ndl.summation(ndl.exp(Z), axes=(1,))
    z_y = ndl.summation(Z * y_one_hot, axes=(1,))
    # BUG (bob): the loss is summed over the batch but never divided by the
    # batch size, so it (and its gradient) is batch_size times too large.
    return ndl.summation(ndl.log(exp_sum) - z_y)
    ### END YOUR SOLUTION


def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):
    """One epoch of minibatch SGD on the two-layer network
    logits = ReLU(X @ W1) @ W2 (no biases), with softmax loss.

    X (numpy float32, examples x inputs) and y (numpy uint8 labels) are taken
    in order, `batch` rows at a time, without shuffling.  W1 (inputs x
    hidden) and W2 (hidden x classes) are Tensors; each minibatch takes one
    step of size lr along the negative gradient that needle's backward()
    computes.  Returns the new (W1, W2) as Tensors.
    """
    ### BEGIN YOUR SOLUTION
    m = X.shape[0]
    k = W2.shape[1]
    for i in range(0, m, batch):
        xb = ndl.Tensor(X[i:i + batch])
        yb = y[i:i + batch]
        Iy = np.zeros((yb.shape[0], k), dtype=np.float32)
        Iy[np.arange(yb.shape[0]), yb] = 1
        Z = ndl.relu(xb @ W1) @ W2
        loss = softmax_loss(Z, ndl.Tensor(Iy))
        loss.backward()
        # BUG (bob): the gradient is detached, but W1 itself is not: the new W1
        # is W1 + (-lr * grad), an op node, not a leaf, so every batch adds to a
        # chain back to the W1 that was passed in, and the returned weights still
        # hold that graph.
        W1 = W1 - lr * W1.grad.detach()
        W2 = W2 - lr * W2.grad.detach()
    return W1, W2
    ### END YOUR SOLUTION


def loss_err(h, y):
    """The average softmax loss and the error rate of logits h (a Tensor,
    one row per example) against integer labels y, as numpy floats."""
    y_one_hot = np.zeros((y.shape[0], h.shape[-1]), dtype=h.dtype)
    y_one_hot[np.arange(y.size), y] = 1
    return (
        softmax_loss(h, ndl.Tensor(y_one_hot)).numpy(),
        np.mean(h.numpy().argmax(axis=1) != y),
    )
