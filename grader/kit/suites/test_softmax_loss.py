"""Question 5: parse_mnist and the softmax loss; log and exp too, until 2023.

As in the course's checks, the loss takes float32 logits and float64 one-hot
labels; the data comes from the kit's own reading of the files, so only the
parse_mnist cases depend on the student's parse_mnist.
"""

import os

import numpy as np
import pytest

from needle_grader_kit import idx
from needle_grader_kit.checks import (LOG_EXP_IN_Q5, case, check_backward, check_forward, check_op_gradient, log_inputs,
                                     one_hot, random_inputs)
from needle_grader_kit.harness import CaseError, dataset, mnist, needle, rng, scratch_dir, simple_ml, submit

# The course's gradient check of softmax_loss on float32 logits allows this norm.
SOFTMAX_GRADIENT_NORM = 0.01


@case("Log.compute", years=LOG_EXP_IN_Q5)
def test_log_forward():
    check_forward(needle().log, log_inputs((4, 5)))


@case("Log.gradient", years=LOG_EXP_IN_Q5)
def test_log_backward():
    check_op_gradient(needle().log, log_inputs((5, 4)))


@case("Exp.compute", years=LOG_EXP_IN_Q5)
def test_exp_forward():
    check_forward(needle().exp, random_inputs([(4, 5)]))


@case("Exp.gradient", years=LOG_EXP_IN_Q5)
def test_exp_backward():
    check_op_gradient(needle().exp, random_inputs([(5, 4)]))


def _submit_parsed(X, y, row_step=1):
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1:
        raise CaseError(f"parse_mnist returned X of shape {X.shape} and y of shape {y.shape}, "
                        "expected (examples, 784) and (examples,)")
    if not np.issubdtype(y.dtype, np.integer):
        raise CaseError(f"parse_mnist returned labels of dtype {y.dtype}, expected integers (uint8 or int8)")
    submit("X rows", X[::row_step], exact_dtype=True)
    submit("X row sums", X.astype(np.float64).sum(axis=1))
    submit("y", y.astype(np.int64))


@case("parse_mnist")
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


@case("parse_mnist")
def test_parse_mnist_dataset():
    _submit_parsed(*simple_ml().parse_mnist(*dataset()), row_step=97)


@case("softmax_loss")
@pytest.mark.parametrize("kind", ["zero", "random"])
def test_softmax_loss(kind):
    ndl = needle()
    _, y = mnist()
    if kind == "zero":
        Z = np.zeros((y.shape[0], 10), dtype=np.float32)
    else:
        Z = rng("logits").standard_normal((y.shape[0], 10)).astype(np.float32)
    loss = simple_ml().softmax_loss(ndl.Tensor(Z), ndl.Tensor(one_hot(y, dtype=np.float64)))
    submit("loss", loss, rtol=1e-6, atol=1e-6)


@case("softmax_loss")
def test_softmax_loss_backward():
    ndl = needle()
    (Z,) = random_inputs([(16, 10)], dtype="float32")
    labels = rng("labels").integers(0, 10, size=16)
    targets = ndl.Tensor(one_hot(labels, dtype=np.float64))
    check_backward(lambda z: simple_ml().softmax_loss(z, targets), [Z], seed=False, numeric=True,
                   norm=SOFTMAX_GRADIENT_NORM)
