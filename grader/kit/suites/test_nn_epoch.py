"""Question 6: relu, and SGD for the two-layer network with nn_epoch.

Weights are float32, as in the course's checks, and the data is the kit's own
reading of the files. What the course checks after a full epoch (the norms of
the weights, the loss and the error rate) is computed here from the returned
weights with numpy: these cases grade nn_epoch and what it calls, never the
evaluation.
"""

import numpy as np
import pytest

from needle_grader_kit.checks import case, check_forward, check_op_gradient, graph_ids, one_hot, random_inputs
from needle_grader_kit.harness import (CaseError, as_array, mnist, needle, numeric_gradient, rng, simple_ml, submit,
                                       submit_gradient)

GRAPH_HINT = ("nn_epoch must not keep the graph of earlier batches alive: make new Tensors from the updated "
              "numpy arrays (or .detach() them) after each step")
LEAF_HINT = ("the returned weights still hold the last batch's graph, and with it that batch's data: "
             "return W1.detach() and W2.detach(), or new Tensors made from numpy arrays")
FLOAT32_HINT = ("the weights came in as float32 and went out as another dtype: backward() seeds float64 ones, so "
                "cast the update back (W.numpy().astype(numpy.float32)) or pass a float32 out_grad")
STEP_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}   # the course's, for one SGD step


@case("ReLU.compute")
def test_relu_forward():
    check_forward(needle().relu, random_inputs([(4, 6)]))


@case("ReLU.gradient")
def test_relu_backward():
    # Inputs kept away from 0, where relu has no derivative.
    check_op_gradient(needle().relu, random_inputs([(4, 6)], away_from_zero=0.1))


def _weights(generator, inputs, hidden, classes):
    W1 = (generator.standard_normal((inputs, hidden)) / np.sqrt(hidden)).astype(np.float32)
    W2 = (generator.standard_normal((hidden, classes)) / np.sqrt(classes)).astype(np.float32)
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


def _loss_and_error(X, y, W1, W2):
    """The softmax loss and the error rate of the network, in float64 numpy."""
    with np.errstate(all="ignore"):
        logits = np.maximum(X.astype(np.float64) @ W1.astype(np.float64), 0) @ W2.astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        log_sum_exp = (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]
        loss = np.mean(log_sum_exp - logits[np.arange(y.shape[0]), y])
    return loss, np.mean(np.argmax(logits, axis=1) != y)


@case("nn_epoch")
def test_one_step_is_the_gradient():
    """With lr=1 and one batch, W - W_new is the gradient of the loss: the course's own check."""
    X, y, W1, W2 = _problem(50, 5, 10, 3)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=1.0, batch=50)
    weights = [W1.astype(np.float64), W2.astype(np.float64)]
    for index, (old, new) in enumerate(((W1, new_W1), (W2, new_W2))):
        step = old - np.asarray(as_array(new, f"W{index + 1}"), dtype=np.float64)
        numeric = numeric_gradient(lambda w1, w2: _loss(X, y, w1, w2), weights, index, step=1e-6)
        submit_gradient(f"W{index + 1} step", step, numeric, **STEP_TOLERANCE)


@case("nn_epoch")
@pytest.mark.parametrize("lr, batch", [(0.3, 20), (0.05, 60)], ids=["lr0.3-batch20", "lr0.05-batch60"])
def test_lr_and_batch(lr, batch):
    X, y, W1, W2 = _problem(120, 8, 6, 4)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=lr, batch=batch)
    submit("W1", new_W1, **STEP_TOLERANCE)
    submit("W2", new_W2, **STEP_TOLERANCE)


def _graph_size(X, y, W1, W2, batches):
    return len(graph_ids(list(_epoch(X[:10 * batches], y[:10 * batches], W1, W2, lr=0.1, batch=10))))


@case("nn_epoch", hint=GRAPH_HINT, hint_on=("failed",))
def test_graph_does_not_grow():
    """A graph that grows with every batch makes a full-data epoch slower with each batch."""
    X, y, W1, W2 = _problem(60, 8, 6, 4)
    after_two, after_six = _graph_size(X, y, W1, W2, 2), _graph_size(X, y, W1, W2, 6)
    submit("nodes added by 4 more batches", np.array(after_six - after_two))
    if after_six > after_two:
        raise CaseError(f"the returned weights hold a graph that grows with every batch: {after_two} nodes "
                        f"after 2 batches, {after_six} after 6")


@case("nn_epoch", advisory=True, hint=LEAF_HINT, hint_on=("failed",))
def test_returns_plain_weights():
    X, y, W1, W2 = _problem(40, 8, 6, 4)
    nodes = _graph_size(X, y, W1, W2, 4)
    submit("nodes reachable from W1 and W2", np.array(nodes))
    if nodes > 2:
        raise CaseError(f"the returned W1 and W2 reach a graph of {nodes} nodes, expected 2 (the weights alone)")


@case("nn_epoch", advisory=True, hint=FLOAT32_HINT, hint_on=("failed",))
def test_keeps_float32():
    X, y, W1, W2 = _problem(40, 8, 6, 4)
    new_W1, new_W2 = _epoch(X, y, W1, W2, lr=0.1, batch=10)
    submit("W1", new_W1, exact_dtype=True, **STEP_TOLERANCE)
    submit("W2", new_W2, exact_dtype=True, **STEP_TOLERANCE)


@case("nn_epoch", weight=3, timeout=300, hint=GRAPH_HINT)
def test_full_epoch():
    """One epoch over the whole dataset (lr 0.2, batch 100), checked as the course does."""
    X, y = mnist()
    W1, W2 = _weights(rng("weights"), X.shape[1], 100, 10)
    new_W1, new_W2 = (np.asarray(as_array(w, name), dtype=np.float64)
                      for w, name in zip(_epoch(X, y, W1, W2, lr=0.2, batch=100), ("W1", "W2")))
    loss, error = _loss_and_error(X, y, new_W1, new_W2)
    submit("norm of W1", np.linalg.norm(new_W1), rtol=1e-5, atol=1e-5)
    submit("norm of W2", np.linalg.norm(new_W2), rtol=1e-5, atol=1e-5)
    submit("loss", loss, rtol=1e-4, atol=1e-4)
    # One example flipping its argmax on a near tie is rounding, not a bug.
    submit("error rate", error, rtol=1e-4, atol=max(1e-4, 1.5 / y.shape[0]))
