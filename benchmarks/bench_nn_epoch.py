"""Time one needle nn_epoch against the same epoch written by hand in numpy.

    python benchmarks/bench_nn_epoch.py [MNIST_DIR] [--runs N]

MNIST_DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (the
10,000 test images); by default $NEEDLE_GRADER_MNIST, else
<repo>/../shared/data/mnist.  The two epochs run in pairs, back to back in
one process, so that both of a pair see the same machine; the ratio is the
median of the pairs' ratios, shown with its interquartile range, because on
a shared machine the speed of both drifts by a third from minute to minute
and a ratio of two medians taken at different moments drifts with it.  BLAS
runs one thread, as in the grader's child process: several threads on a
shared machine make the figures noise.  The goal is needle/numpy <= 1.3:
autograd's bookkeeping should cost little next to the matrix products.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# before numpy is imported: BLAS reads these once, when it loads
os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import needle as ndl  # noqa: E402
from needle.simple_ml import nn_epoch, parse_mnist  # noqa: E402

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
HIDDEN, LR, BATCH = 100, 0.2, 100


def numpy_epoch(X, y, W1, W2, lr=LR, batch=BATCH):
    """The same SGD epoch with the backward pass derived by hand."""
    W1, W2 = W1.copy(), W2.copy()
    for start in range(0, X.shape[0], batch):
        Xb, yb = X[start:start + batch], y[start:start + batch]
        H = np.maximum(Xb @ W1, 0)
        E = np.exp(H @ W2)
        # d loss / d logits = softmax - one_hot, averaged over the batch
        G2 = E / E.sum(axis=1, keepdims=True)
        G2[np.arange(yb.shape[0]), yb] -= 1
        G2 /= yb.shape[0]
        G1 = (H > 0) * (G2 @ W2.T)
        W1 -= lr * (Xb.T @ G1)
        W2 -= lr * (H.T @ G2)
    return W1, W2


def main(argv=None):
    default_dir = os.environ.get("NEEDLE_GRADER_MNIST") or str(REPO.parent / "shared" / "data" / "mnist")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", nargs="?", default=default_dir)
    parser.add_argument("--runs", type=int, default=11, help="timed pairs of epochs (at least 5)")
    args = parser.parse_args(argv)

    images, labels = Path(args.mnist_dir) / IMAGES, Path(args.mnist_dir) / LABELS
    if not (images.is_file() and labels.is_file()):
        print("error: MNIST test set not found: need %s and %s" % (images, labels), file=sys.stderr)
        return 2
    X, y = parse_mnist(str(images), str(labels))

    rng = np.random.default_rng(0)
    W1 = (rng.standard_normal((X.shape[1], HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    W2 = (rng.standard_normal((HIDDEN, 10)) / np.sqrt(10)).astype(np.float32)

    def run_needle():
        return nn_epoch(X, y, ndl.Tensor(W1), ndl.Tensor(W2), lr=LR, batch=BATCH)

    def run_numpy():
        return numpy_epoch(X, y, W1, W2)

    # Same network, same data: the results must agree, or the timing means nothing.
    (n1, n2), (m1, m2) = run_needle(), run_numpy()
    assert n1.dtype == np.float32 and n2.dtype == np.float32
    np.testing.assert_allclose(n1.numpy(), m1, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(n2.numpy(), m2, rtol=1e-3, atol=1e-4)

    times = {"needle": [], "numpy": []}
    for _ in range(max(args.runs, 5)):
        for name, run in (("needle", run_needle), ("numpy", run_numpy)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    ratios = [a / b for a, b in zip(times["needle"], times["numpy"])]
    low, _, high = statistics.quantiles(ratios, n=4)
    print("examples: %d, batch %d, hidden %d, pairs %d" % (X.shape[0], BATCH, HIDDEN, len(ratios)))
    print("needle nn_epoch: %.1f ms (median)" % (1000 * statistics.median(times["needle"])))
    print("numpy epoch:     %.1f ms (median)" % (1000 * statistics.median(times["numpy"])))
    print("ratio needle/numpy: %.2f (median of pairs; interquartile %.2f-%.2f; target <= 1.3)"
          % (statistics.median(ratios), low, high))
    return 0


if __name__ == "__main__":
    sys.exit(main())
