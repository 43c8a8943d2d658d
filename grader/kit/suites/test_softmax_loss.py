"""Question 5: log, parse_mnist and the softmax loss."""

import os

import numpy as np
import pytest

from needle_grader_kit import idx
from needle_grader_kit.checks import check_backward, check_forward, check_op_gradient, one_hot, random_inputs
from needle_grader_kit.harness import CaseError, dataset, needle, rng, scratch_dir, simple_ml, submit


def test_log_forward():
    check_forward(needle().log, random_inputs([(4, 5)], "float32", positive=True))


def test_log_backward():
    check_op_gradient(needle().log, random_inputs([(4, 5)], positive=True))


def _submit_parsed(X, y, row_step=1):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1:
        raise CaseError(f"parse_mnist returned X of shape {X.shape} and y of shape {y.shape}, "
                        "expected (examples, 784) and (examples,)")
    submit("X rows", X[::row_step], exact_dtype=True)
    submit("X row sums", X.astype(np.float64).sum(axis=1))
    submit("y", y, exact_dtype=True)


@pytest.mark.parametrize("examples", [7, 31])
def test_parse_mnist_other_files(examples):
    """Files the submission has never seen, under names of the grader's choosing."""
    generator = rng("images")
    images = generator.integers(0, 256, size=(examples, 28, 28), dtype=np.uint8)
    labels = generator.integers(0, 10, size=examples, dtype=np.uint8)
    folder = scratch_dir()
    image_path = os.path.join(folder, f"case-{examples}-images.idx3.gz")
    label_path = os.path.join(folder, f"case-{examples}-labels.idx1.gz")
    idx.write_idx_images(image_path, images)
    idx.write_idx_labels(label_path, labels)
    _submit_parsed(*simple_ml().parse_mnist(image_path, label_path))


def test_parse_mnist_dataset():
    X, y = simple_ml().parse_mnist(*dataset())
    _submit_parsed(X, y, row_step=97)


def _logits_and_labels(kind):
    X, y = simple_ml().parse_mnist(*dataset())
    y = np.asarray(y)
    if kind == "zero":
        Z = np.zeros((y.shape[0], 10), dtype=np.float32)
    else:
        Z = rng("logits").standard_normal((y.shape[0], 10)).astype(np.float32)
    return Z, y


@pytest.mark.parametrize("kind", ["zero", "random"])
def test_softmax_loss(kind):
    ndl = needle()
    Z, y = _logits_and_labels(kind)
    loss = simple_ml().softmax_loss(ndl.Tensor(Z), ndl.Tensor(one_hot(y)))
    submit("loss", loss, rtol=1e-5, atol=1e-6)


def test_softmax_loss_backward():
    ndl = needle()
    (Z,) = random_inputs([(20, 10)])
    labels = rng("labels").integers(0, 10, size=20)
    targets = ndl.Tensor(one_hot(labels, dtype=np.float64))
    check_backward(lambda z: simple_ml().softmax_loss(z, targets), [Z])
