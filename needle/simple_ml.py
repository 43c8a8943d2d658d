"""A two-layer network for MNIST, trained with needle's automatic
differentiation (handed out as apps/simple_ml.py)."""
import struct
import gzip
import zlib
import numpy as np

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
    def read_idx(filename, magic, kind):
        with open(filename, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":  # gzip's own magic number
            try:
                raw = gzip.decompress(raw)
            except EOFError:
                raise ValueError("%s: truncated: the gzip stream ends early" % filename) from None
            except (OSError, zlib.error) as e:
                raise ValueError("%s: corrupt gzip data (%s)" % (filename, e)) from None
        if len(raw) < 4:
            raise ValueError("%s: truncated: %d bytes, too short for an IDX file" % (filename, len(raw)))
        (found,) = struct.unpack(">i", raw[:4])
        if found != magic:
            raise ValueError(
                "%s: bad magic number %d (expected %d for IDX %s)" % (filename, found, magic, kind)
            )
        # the low byte of the magic number is the number of dimensions
        ndim = magic & 0xFF
        header = 4 + 4 * ndim
        if len(raw) < header:
            raise ValueError(
                "%s: truncated: the IDX header needs %d bytes, the file has %d" % (filename, header, len(raw))
            )
        dims = struct.unpack(">" + "I" * ndim, raw[4:header])
        size = int(np.prod(dims))
        found_size = len(raw) - header
        if found_size < size:
            raise ValueError(
                "%s: truncated: shape %s needs %d bytes of data, the file has %d" % (filename, dims, size, found_size)
            )
        if found_size > size:
            raise ValueError(
                "%s: %d stray bytes after the data for shape %s" % (filename, found_size - size, dims)
            )
        return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(dims)

    images = read_idx(image_filename, 2051, "images")
    labels = read_idx(label_filename, 2049, "labels")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            "%s: has %d labels but %s has %d images"
            % (label_filename, labels.shape[0], image_filename, images.shape[0])
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)
    return X, labels.copy()
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
    # mean over rows of log(sum_j exp z_j) - z_y; the one-hot mask picks z_y
    log_sum_exp = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
    return (ndl.summation(log_sum_exp) - ndl.summation(Z * y_one_hot)) / Z.shape[0]
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
    # A numpy float64 lr would turn the float32 weights into float64.
    lr = float(lr)
    # Leaves of our own, so that the caller's W1 and W2 stay as they were
    # and each SGD step can update their arrays in place.
    W1, W2 = ndl.Tensor(W1), ndl.Tensor(W2)
    X = X.astype(W1.dtype, copy=False)
    # Row i of the identity is the one-hot code of label i.
    one_hots = np.eye(W2.shape[1], dtype=W2.dtype)[y]
    # backward()'s default seed is float64 ones: a seed of the weights' own
    # dtype keeps the whole epoch in float32.
    seed = ndl.Tensor.make_const(np.ones((), dtype=W1.dtype))
    for start in range(0, X.shape[0], batch):
        # The batches are only read: make_const wraps an array as it is,
        # where Tensor(array) would copy it.
        X_batch = ndl.Tensor.make_const(X[start:start + batch])
        one_hot = ndl.Tensor.make_const(one_hots[start:start + batch])
        loss = softmax_loss(ndl.relu(X_batch @ W1) @ W2, one_hot)
        loss.backward(seed)
        # One SGD step.  Dropping the gradients lets this batch's graph go;
        # the next batch builds its own from the same two leaves.
        for W in (W1, W2):
            W.cached_data -= lr * W.grad.cached_data
            W.grad = None
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
