"""Question 6: relu, and SGD for the two-layer network with nn_epoch."""

import numpy as np
import pytest

from needle_grader_kit.checks import check_forward, check_op_gradient, graph_ids, one_hot, random_inputs
from needle_grader_kit.harness import (CaseError, dataset, needle, numeric_gradient, rng, simple_ml, submit,
                                       submit_gradient)

GRAPH_HINT = ("nn_epoch must not keep the graph of earlier batches alive: make new Tensors from the updated "
              "numpy arrays (or .detach() them) after each step")


def test_relu_forward():
    check_forward(needle().relu, random_inputs([(4, 6)], "float32"))


def test_relu_backward():
    # Inputs kept away from 0, where relu has no derivative.
    check_op_gradient(needle().relu, random_inputs([(4, 6)], away_from_zero=0.1))


def _weights(generator, inputs, hidden, classes, dtype=np.float32):
    W1 = (generator.standard_normal((inputs, hidden)) / np.sqrt(hidden)).astype(dtype)
    W2 = (generator.standard_normal((hidden, classes)) / np.sqrt(classes)).astype(dtype)
    return W1, W2


def _epoch(X, y, W1, W2, lr, batch):
    ndl = needle()
    result = simple_ml().nn_epoch(X, y, ndl.Tensor(W1.copy()), ndl.Tensor(W2.copy()), lr=lr, batch=batch)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CaseError(f"nn_epoch returned {type(result).__name__}, expected the pair (W1, W2)")
    return result


def _problem(examples, inputs, hidden, classes):
    """Random data, labels and starting weights for a small network."""
    generator = rng("data")
    X = generator.standard_normal((examples, inputs)).astype(np.float32)
    y = generator.integers(0, classes, size=examples).astype(np.uint8)
    return (X, y, *_weights(generator, inputs, hidden, classes))


def _loss(X, y, W1, W2):
    """The loss the submission's own softmax_loss gives for given weights (float64 arrays)."""
    ndl = needle()
    logits = ndl.relu(ndl.Tensor(X.astype(np.float64)) @ ndl.Tensor(W1)) @ ndl.Tensor(W2)
    return simple_ml().softmax_loss(logits, ndl.Tensor(one_hot(y, W2.shape[1], np.float64))).numpy()


def test_one_step_is_the_gradient():
    """With lr=1 and one batch, W - W_new is the gradient of the loss: compared with numdifftools."""
    X, y, W1, W2 = _problem(50, 5, 10, 3)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=1.0, batch=50)
    step_W1 = W1 - np.asarray(new_W1.numpy(), dtype=np.float64)
    step_W2 = W2 - np.asarray(new_W2.numpy(), dtype=np.float64)
    weights = [W1.astype(np.float64), W2.astype(np.float64)]
    for index, step in enumerate((step_W1, step_W2)):
        numeric = numeric_gradient(lambda w1, w2: _loss(X, y, w1, w2), weights, index, step=1e-6, order=2)
        submit_gradient(f"W{index + 1} step", step, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lr, batch", [(0.3, 20), (0.05, 60)], ids=["lr0.3-batch20", "lr0.05-batch60"])
def test_lr_and_batch(lr, batch):
    X, y, W1, W2 = _problem(120, 8, 6, 4)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=lr, batch=batch)
    submit("W1", new_W1, rtol=1e-4, atol=1e-5)
    submit("W2", new_W2, rtol=1e-4, atol=1e-5)


def test_releases_the_graph():
    X, y, W1, W2 = _problem(50, 8, 6, 4)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=0.1, batch=10)
    nodes = len(graph_ids([new_W1, new_W2]))
    submit("nodes reachable from W1 and W2", np.array(nodes))
    if nodes > 2:
        raise CaseError(f"the returned W1 and W2 still hold a computation graph of {nodes} nodes; {GRAPH_HINT}")


@pytest.mark.case(weight=3, timeout=300, hint=GRAPH_HINT)
def test_full_epoch():
    """One epoch over the whole dataset: every weight, the loss and the error rate."""
    X, y = simple_ml().parse_mnist(*dataset())
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    W1, W2 = _weights(rng("weights"), X.shape[1], 100, 10)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=0.2, batch=100)
    ndl = needle()
    logits = ndl.relu(ndl.Tensor(X) @ new_W1) @ new_W2
    loss = simple_ml().softmax_loss(logits, ndl.Tensor(one_hot(y)))
    submit("W1", new_W1, rtol=1e-4, atol=1e-5)
    submit("W2", new_W2, rtol=1e-4, atol=1e-5)
    submit("loss", loss, rtol=1e-4, atol=1e-5)
    # One example flipping its argmax on a near tie is rounding, not a bug.
    submit("error", np.mean(np.argmax(np.asarray(logits.numpy()), axis=1) != y), rtol=0, atol=1.5 / y.shape[0])
