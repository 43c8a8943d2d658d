"""A two-layer network for MNIST, trained with needle's automatic
differentiation (handed out as apps/simple_ml.py)."""
import struct
import gzip
import zlib
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
    raise NotImplementedError()
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
    raise NotImplementedError()
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
    raise NotImplementedError()
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
