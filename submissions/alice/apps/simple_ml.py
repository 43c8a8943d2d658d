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
    def read_idx(filename, magic, header_ints):
        with open(filename, "rb") as stream:
            raw = stream.read()
        if raw.startswith(bytes([0x1F, 0x8B])):  # gzipped: IDX files start with 0x00 0x00
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise ValueError(f"{filename}: broken gzip data ({exc})") from None
        header_size = 4 * header_ints
        if len(raw) < header_size:
            raise ValueError(f"{filename}: too short for an IDX header")
        header = struct.unpack_from(f">{header_ints}I", raw, 0)
        if header[0] != magic:
            raise ValueError(f"{filename}: magic number {header[0]}, expected {magic}")
        expected = 1
        for size in header[1:]:
            expected *= size
        if len(raw) - header_size != expected:
            raise ValueError(f"{filename}: {len(raw) - header_size} bytes of data, expected {expected}")
        return header[1:], np.frombuffer(raw, dtype=np.uint8, offset=header_size)

    (count, rows, cols), pixels = read_idx(image_filename, 2051, 4)
    (label_count,), labels = read_idx(label_filename, 2049, 2)
    if label_count != count:
        raise ValueError(f"{label_filename}: {label_count} labels for {count} images")
    X = pixels.reshape(count, rows * cols).astype(np.float32) / np.float32(255)
    y = labels.copy()
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
    batch_size = Z.shape[0]
    # log-sum-exp with the row maximum taken out first, so exp cannot overflow.
    # The maximum is a constant: the loss does not depend on it.
    row_max = np.max(Z.numpy(), axis=1, keepdims=True)
    shift = ndl.Tensor(row_max, dtype=Z.dtype, requires_grad=False)
    shifted = Z - ndl.broadcast_to(shift, Z.shape)
    log_sum_exp = ndl.log(ndl.summation(ndl.exp(shifted), axes=(1,)))
    log_sum_exp = log_sum_exp + ndl.reshape(shift, (batch_size,))
    true_logit = ndl.summation(Z * y_one_hot, axes=(1,))
    return ndl.summation(log_sum_exp - true_logit) / batch_size
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
    num_examples, num_classes = X.shape[0], W2.shape[1]
    for start in range(0, num_examples, batch):
        X_batch = ndl.Tensor(X[start:start + batch], requires_grad=False)
        y_batch = y[start:start + batch]
        one_hot = np.zeros((y_batch.shape[0], num_classes), dtype=np.float32)
        one_hot[np.arange(y_batch.shape[0]), y_batch] = 1
        hidden = ndl.relu(ndl.matmul(X_batch, W1))
        targets = ndl.Tensor(one_hot, requires_grad=False)
        loss = softmax_loss(ndl.matmul(hidden, W2), targets)
        loss.backward()
        # step in numpy, then start again from fresh leaves with no graph behind them
        # (dtype= keeps the weights float32 whatever type lr has)
        W1 = ndl.Tensor(W1.numpy() - lr * W1.grad.numpy(), dtype=W1.dtype)
        W2 = ndl.Tensor(W2.numpy() - lr * W2.grad.numpy(), dtype=W2.dtype)
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
