"""Student-style solutions to the course's handouts, and single-bug variants of them.

The course's own starter code is never copied here: a submission is built at
test time from ``../shared/handouts/YEAR`` by writing these bodies into its
solution blocks (``grader.handout.fill_solutions``); a body for a block that
a year does not have (EWisePow before 2024) is simply not used. ``COMMON`` is what most
students write; each student replaces some blocks with the ways real
solutions differ (recursive or iterative searches, numpy inside gradients,
float64 constants, smoothing epsilons, in-place updates, detaching at either
end of a batch, sorting from the first node only, ...). Every one of them is
correct: it must score 100, with the advisories listed beside it.

Students also extend the starter's own code outside the blocks (a ``keepdims`` on
``Summation.__init__``, ``summation`` and ``Tensor.sum``): ``replaced`` rewrites such a
definition in place, wherever that year's starter has it.

A variant is a student with one bug. ``fails`` lists every scored case the
bug makes fail; all of them belong to the question where the bug lives,
except in ``PROPAGATING``, whose bug sits in code that later questions call
(their messages then name the cause).
"""

import ast
import dataclasses
import textwrap
from pathlib import Path

COMMON = {
    "PowerScalar.compute": "return array_api.power(a, self.scalar)",
    "PowerScalar.gradient": """
a = node.inputs[0]
return out_grad * self.scalar * power_scalar(a, self.scalar - 1)
""",
    "EWisePow.compute": "return a ** b",
    "EWisePow.gradient": """
a, b = node.inputs
return out_grad * b * power(a, b - 1), out_grad * power(a, b) * log(a)
""",
    "EWiseDiv.compute": "return a / b",
    "EWiseDiv.gradient": """
lhs, rhs = node.inputs
return out_grad / rhs, -out_grad * lhs / (rhs * rhs)
""",
    "DivScalar.compute": "return a / self.scalar",
    "DivScalar.gradient": "return out_grad / self.scalar",
    "Transpose.compute": """
if self.axes is None:
    return array_api.swapaxes(a, -1, -2)
return array_api.swapaxes(a, self.axes[0], self.axes[1])
""",
    "Transpose.gradient": "return transpose(out_grad, self.axes)",
    "Reshape.compute": "return array_api.reshape(a, self.shape)",
    "Reshape.gradient": "return reshape(out_grad, node.inputs[0].shape)",
    "BroadcastTo.compute": "return array_api.broadcast_to(a, self.shape)",
    "BroadcastTo.gradient": """
in_shape = node.inputs[0].shape
out_shape = out_grad.shape
padded = (1,) * (len(out_shape) - len(in_shape)) + tuple(in_shape)
axes = tuple(i for i, (a, b) in enumerate(zip(padded, out_shape)) if a != b)
grad = summation(out_grad, axes=axes) if axes else out_grad
return reshape(grad, in_shape)
""",
    "Summation.compute": "return array_api.sum(a, axis=self.axes)",
    "Summation.gradient": """
in_shape = node.inputs[0].shape
if self.axes is None:
    return broadcast_to(reshape(out_grad, (1,) * len(in_shape)), in_shape)
shape = list(in_shape)
for axis in self.axes:
    shape[axis] = 1
return broadcast_to(reshape(out_grad, tuple(shape)), in_shape)
""",
    "MatMul.compute": "return a @ b",
    "MatMul.gradient": """
lhs, rhs = node.inputs
grad_lhs = matmul(out_grad, transpose(rhs))
grad_rhs = matmul(transpose(lhs), out_grad)
if len(grad_lhs.shape) > len(lhs.shape):
    grad_lhs = summation(grad_lhs, axes=tuple(range(len(grad_lhs.shape) - len(lhs.shape))))
if len(grad_rhs.shape) > len(rhs.shape):
    grad_rhs = summation(grad_rhs, axes=tuple(range(len(grad_rhs.shape) - len(rhs.shape))))
return grad_lhs, grad_rhs
""",
    "Negate.compute": "return -a",
    "Negate.gradient": "return negate(out_grad)",
    "Log.compute": "return array_api.log(a)",
    "Log.gradient": "return out_grad / node.inputs[0]",
    "Exp.compute": "return array_api.exp(a)",
    "Exp.gradient": "return out_grad * exp(node.inputs[0])",
    "ReLU.compute": "return array_api.maximum(a, 0)",
    "ReLU.gradient": """
mask = Tensor(node.inputs[0].realize_cached_data() > 0)
return out_grad * mask
""",
    "compute_gradient_of_variables": """
for node in reverse_topo_order:
    node.grad = sum_node_list(node_to_output_grads_list[node])
    if node.op is None:
        continue
    grads = node.op.gradient_as_tuple(node.grad, node)
    for inp, g in zip(node.inputs, grads):
        node_to_output_grads_list.setdefault(inp, []).append(g)
""",
    "find_topo_sort": """
visited = set()
topo_order = []
for node in node_list:
    topo_sort_dfs(node, visited, topo_order)
return topo_order
""",
    "topo_sort_dfs": """
if node in visited:
    return
visited.add(node)
for inp in node.inputs:
    topo_sort_dfs(inp, visited, topo_order)
topo_order.append(node)
""",
    "parse_mnist": """
with gzip.open(image_filesname, "rb") as f:
    magic, num, rows, cols = struct.unpack(">IIII", f.read(16))
    X = np.frombuffer(f.read(), dtype=np.uint8).reshape(num, rows * cols).astype(np.float32) / 255.0
with gzip.open(label_filename, "rb") as f:
    magic, num = struct.unpack(">II", f.read(8))
    y = np.frombuffer(f.read(), dtype=np.uint8)
return X, y
""",
    "softmax_loss": """
batch = Z.shape[0]
log_sum_exp = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
z_y = ndl.summation(Z * y_one_hot, axes=(1,))
return ndl.summation(log_sum_exp - z_y) / batch
""",
    "nn_epoch": """
num_examples = X.shape[0]
for start in range(0, num_examples, batch):
    X_batch = ndl.Tensor(X[start:start + batch])
    y_batch = y[start:start + batch]
    Iy = np.zeros((y_batch.shape[0], W2.shape[1]))
    Iy[np.arange(y_batch.shape[0]), y_batch] = 1
    Z = ndl.relu(X_batch @ W1) @ W2
    loss = softmax_loss(Z, ndl.Tensor(Iy))
    loss.backward()
    W1 = ndl.Tensor(W1.numpy() - lr * W1.grad.numpy())
    W2 = ndl.Tensor(W2.numpy() - lr * W2.grad.numpy())
return W1, W2
""",
}

ITERATIVE_TOPO_SORT = """
visited = set()
topo_order = []
for root in node_list:
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            topo_order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for inp in reversed(node.inputs):
            if inp not in visited:
                stack.append((inp, False))
return topo_order
"""

# The advisories the common solution fails: a recursive search, int axes, float64 weights.
RECURSIVE = "topo_sort::deep_chain"
INT_AXES = "backward::summation_int_axis"
FLOAT64_WEIGHTS = "nn_epoch::keeps_float32"
FIRST_NODE_ONLY = "topo_sort::several_outputs"
LAST_GRAPH = "nn_epoch::returns_plain_weights"
NUMPY_GRADIENTS = "compute_gradient::gradient_of_gradient_through_other_ops"


@dataclasses.dataclass
class Student:
    style: str
    blocks: dict
    advisories: set                      # the advisory cases it fails
    added: dict = dataclasses.field(default_factory=dict)   # course path -> code appended to that file
    replaced: dict = dataclasses.field(default_factory=dict)   # starter function (qualified name) -> its new code
    # its weights turn float64 only because 2022's backward() seeds float64 ones
    float64_from_the_seed: bool = False

    def bodies(self):
        return {**COMMON, **self.blocks}

    def advisories_in(self, year):
        """The advisories it fails in that year's handout: from 2023 backward() seeds the loss's own dtype."""
        if self.float64_from_the_seed and year >= "2023":
            return self.advisories - {FLOAT64_WEIGHTS}
        return self.advisories


STUDENTS = {
    "ada": Student("the common solution: a recursive search, float64 one-hot labels and weights", {},
                   {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "ben": Student("an iterative post-order search with a stack; detaches the new weights at the end of a batch", {
        "find_topo_sort": ITERATIVE_TOPO_SORT,
        "topo_sort_dfs": "raise NotImplementedError('not used: find_topo_sort keeps its own stack')",
        "nn_epoch": """
n = X.shape[0]
k = W2.shape[1]
for i in range(0, n, batch):
    xb, yb = X[i:i + batch], y[i:i + batch]
    one_hot = np.eye(k, dtype=np.float32)[yb]
    logits = ndl.relu(ndl.Tensor(xb) @ W1) @ W2
    loss = softmax_loss(logits, ndl.Tensor(one_hot))
    loss.backward()
    W1 = (W1 - lr * W1.grad).detach()
    W2 = (W2 - lr * W2.grad).detach()
return W1, W2
""",
    }, {INT_AXES, FLOAT64_WEIGHTS}, float64_from_the_seed=True),
    "chen": Student("numpy inside gradients (Tensor and make_const of computed arrays)", {
        "PowerScalar.gradient": """
a = node.inputs[0].realize_cached_data()
return out_grad * Tensor(self.scalar * array_api.power(a, self.scalar - 1))
""",
        "Log.gradient": "return out_grad * Tensor(1.0 / node.inputs[0].realize_cached_data())",
        "Exp.gradient": "return out_grad * Tensor.make_const(node.realize_cached_data())",
        "ReLU.gradient": "return out_grad * Tensor.make_const((node.realize_cached_data() > 0).astype(out_grad.dtype))",
        "DivScalar.gradient": "return out_grad * Tensor.make_const(array_api.full(out_grad.shape, 1.0 / self.scalar))",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS, NUMPY_GRADIENTS}),
    "dara": Student("smoothing epsilons and float64 constants", {
        "Log.gradient": "return out_grad / (node.inputs[0] + 1e-7)",
        "softmax_loss": """
exp_sum = ndl.summation(ndl.exp(Z), axes=(1,))
loss = ndl.log(exp_sum + 1e-8) - ndl.summation(Z * y_one_hot, axes=(1,))
return ndl.summation(loss) / np.float64(Z.shape[0])
""",
        "nn_epoch": """
lr = np.float64(lr)
for start in range(0, X.shape[0], batch):
    Xb = ndl.Tensor(X[start:start + batch].astype(np.float64))
    yb = y[start:start + batch]
    one_hot = np.zeros((len(yb), W2.shape[1]), dtype=np.float64)
    one_hot[np.arange(len(yb)), yb] = 1.0
    loss = softmax_loss(ndl.relu(Xb @ W1) @ W2, ndl.Tensor(one_hot))
    loss.backward()
    W1 = ndl.Tensor(W1.numpy() - lr * W1.grad.numpy())
    W2 = ndl.Tensor(W2.numpy() - lr * W2.grad.numpy())
return W1, W2
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "eli": Student("detaches the weights at the start of each batch, so the last batch's graph is returned", {
        "nn_epoch": """
classes = W2.shape[1]
for start in range(0, X.shape[0], batch):
    W1, W2 = W1.detach(), W2.detach()
    labels = y[start:start + batch]
    targets = np.zeros((labels.size, classes))
    targets[np.arange(labels.size), labels] = 1
    logits = ndl.relu(ndl.Tensor(X[start:start + batch]) @ W1) @ W2
    softmax_loss(logits, ndl.Tensor(targets)).backward()
    W1 = W1 - lr * W1.grad
    W2 = W2 - lr * W2.grad
return W1, W2
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS, LAST_GRAPH}),
    "fay": Student("sorts from node_list[0] only; updates the weights' arrays in place", {
        "find_topo_sort": """
topo_order = []
topo_sort_dfs(node_list[0], set(), topo_order)
return topo_order
""",
        "nn_epoch": """
eye = np.eye(W2.shape[1], dtype=np.float32)
for start in range(0, X.shape[0], batch):
    Xb, yb = X[start:start + batch], y[start:start + batch]
    loss = softmax_loss(ndl.relu(ndl.Tensor(Xb) @ W1) @ W2, ndl.Tensor(eye[yb]))
    loss.backward()
    W1.cached_data -= lr * W1.grad.numpy()
    W2.cached_data -= lr * W2.grad.numpy()
return W1, W2
""",
    }, {RECURSIVE, INT_AXES, FIRST_NODE_ONLY}),
    "gus": Student("transposes by permutation, sums broadcast axes in a loop, handles int axes", {
        "Transpose.compute": """
order = list(range(a.ndim))
i, j = self.axes if self.axes else (a.ndim - 2, a.ndim - 1)
order[i], order[j] = order[j], order[i]
return array_api.transpose(a, order)
""",
        "BroadcastTo.gradient": """
grad = out_grad
in_shape = node.inputs[0].shape
while len(grad.shape) > len(in_shape):
    grad = summation(grad, axes=(0,))
for i, n in enumerate(in_shape):
    if n == 1 and grad.shape[i] != 1:
        grad = reshape(summation(grad, axes=(i,)), grad.shape[:i] + (1,) + grad.shape[i + 1:])
return reshape(grad, in_shape)
""",
        "Summation.gradient": """
in_shape = node.inputs[0].shape
axes = self.axes
if axes is None:
    axes = tuple(range(len(in_shape)))
elif isinstance(axes, int):
    axes = (axes,)
kept = [1 if i in axes or i - len(in_shape) in axes else n for i, n in enumerate(in_shape)]
return broadcast_to(reshape(out_grad, tuple(kept)), in_shape)
""",
    }, {RECURSIVE, FLOAT64_WEIGHTS}),
    "hana": Student("Tensor methods, a general sum-to-shape in matmul, float32 kept by a cast", {
        "MatMul.gradient": """
a, b = node.inputs
da, db = out_grad @ b.transpose(), a.transpose() @ out_grad

def sum_to(grad, shape):
    extra = len(grad.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axes).reshape(shape) if axes else grad

return sum_to(da, a.shape), sum_to(db, b.shape)
""",
        "Exp.gradient": "return out_grad * node",
        "softmax_loss": """
m = Z.shape[0]
log_sum = ndl.log(ndl.exp(Z).sum(axes=(1,)))
correct = (Z * y_one_hot).sum(axes=(1,))
return (log_sum - correct).sum() / m
""",
        "nn_epoch": """
n, k = X.shape[0], W2.shape[1]
for b in range((n + batch - 1) // batch):
    xb = X[b * batch:(b + 1) * batch]
    yb = y[b * batch:(b + 1) * batch]
    h = ndl.relu(ndl.Tensor(xb) @ W1)
    loss = softmax_loss(h @ W2, ndl.Tensor(np.eye(k)[yb]))
    loss.backward()
    W1 = ndl.Tensor((W1.numpy() - lr * W1.grad.numpy()).astype(np.float32))
    W2 = ndl.Tensor((W2.numpy() - lr * W2.grad.numpy()).astype(np.float32))
return W1, W2
""",
    }, {RECURSIVE, INT_AXES}),
    "ivan": Student("adds adjoints as they arrive; relu as a product with its mask", {
        "compute_gradient_of_variables": """
for node in reverse_topo_order:
    adjoint = sum_node_list(node_to_output_grads_list[node])
    node.grad = adjoint
    if node.is_leaf():
        continue
    for i, partial in enumerate(node.op.gradient_as_tuple(adjoint, node)):
        node_to_output_grads_list.setdefault(node.inputs[i], [])
        node_to_output_grads_list[node.inputs[i]].append(partial)
""",
        "ReLU.compute": "return a * (a > 0)",
        "ReLU.gradient": "return out_grad * Tensor((node.inputs[0].numpy() > 0).astype(array_api.float32))",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "jun": Student("divides through negative powers; normalizes pixels by their range", {
        "EWiseDiv.gradient": """
lhs, rhs = node.inputs
return out_grad * power_scalar(rhs, -1), negate(out_grad * lhs * power_scalar(rhs, -2))
""",
        "PowerScalar.compute": "return a ** self.scalar",
        "DivScalar.gradient": "return out_grad * (1 / self.scalar)",
        "parse_mnist": """
with gzip.open(image_filesname) as f:
    _, count, rows, cols = struct.unpack(">4i", f.read(16))
    pixels = np.frombuffer(f.read(), dtype=np.uint8).astype(np.float32)
X = pixels.reshape(count, rows * cols)
X = (X - X.min()) / (X.max() - X.min())
with gzip.open(label_filename) as f:
    _, count = struct.unpack(">2i", f.read(8))
    y = np.array(struct.unpack(">%dB" % count, f.read(count)), dtype=np.uint8)
return X, y
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "kai": Student("log-softmax through broadcast_to; float32 one-hot labels", {
        "softmax_loss": """
lse = ndl.log(ndl.summation(ndl.exp(Z), axes=(1,)))
lse = ndl.broadcast_to(ndl.reshape(lse, (Z.shape[0], 1)), Z.shape)
return -ndl.summation((Z - lse) * y_one_hot) / Z.shape[0]
""",
        "nn_epoch": """
for i in range(0, X.shape[0], batch):
    X_b = ndl.Tensor(X[i:i + batch], dtype="float32")
    y_b = np.zeros((min(batch, X.shape[0] - i), W2.shape[1]), dtype="float32")
    y_b[np.arange(y_b.shape[0]), y[i:i + batch]] = 1
    softmax_loss(ndl.relu(X_b @ W1) @ W2, ndl.Tensor(y_b)).backward()
    W1 = ndl.Tensor((W1 - lr * W1.grad).numpy().astype(np.float32))
    W2 = ndl.Tensor((W2 - lr * W2.grad).numpy().astype(np.float32))
return W1, W2
""",
    }, {RECURSIVE, INT_AXES}),
    "lena": Student("swapaxes by unpacking, exp as a power of e, batches from np.split", {
        "Transpose.compute": "return a.swapaxes(*(self.axes or (-2, -1)))",
        "Summation.compute": "return a.sum(self.axes)",
        "Exp.compute": "return array_api.power(array_api.e, a)",
        "nn_epoch": """
one_hot = np.zeros((y.shape[0], W2.shape[1]))
one_hot[np.arange(y.shape[0]), y] = 1
for Xb, Yb in zip(np.split(X, X.shape[0] // batch), np.split(one_hot, X.shape[0] // batch)):
    loss = softmax_loss(ndl.relu(ndl.Tensor(Xb) @ W1) @ W2, ndl.Tensor(Yb))
    loss.backward()
    W1 = ndl.Tensor(W1.numpy() - lr * W1.grad.numpy())
    W2 = ndl.Tensor(W2.numpy() - lr * W2.grad.numpy())
return W1, W2
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "mo": Student("raises the recursion limit; int8 labels as parse_mnist's docstring says", {
        "find_topo_sort": """
import sys
sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))
visited, topo_order = set(), []
for node in node_list:
    topo_sort_dfs(node, visited, topo_order)
return topo_order
""",
        "parse_mnist": """
with gzip.open(image_filesname, "rb") as f:
    data = f.read()
n, rows, cols = struct.unpack(">III", data[4:16])
X = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32) / np.float32(255)
with gzip.open(label_filename, "rb") as f:
    y = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int8)
return X, y
""",
    }, {INT_AXES, FLOAT64_WEIGHTS}),
    "nia": Student("float64 from the first batch: data, labels and weights", {
        "nn_epoch": """
X = X.astype(np.float64)
W1, W2 = ndl.Tensor(W1.numpy().astype(np.float64)), ndl.Tensor(W2.numpy().astype(np.float64))
labels = np.eye(W2.shape[1])[y]
for s in range(0, len(X), batch):
    z = ndl.relu(ndl.Tensor(X[s:s + batch]) @ W1) @ W2
    softmax_loss(z, ndl.Tensor(labels[s:s + batch])).backward()
    W1 = ndl.Tensor(W1.numpy() - lr * W1.grad.numpy())
    W2 = ndl.Tensor(W2.numpy() - lr * W2.grad.numpy())
return W1, W2
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "ola": Student("smoothing epsilons in log's forward and gradient, and in the softmax's log of probabilities", {
        "Log.compute": "return array_api.log(a + 1e-7)",
        "Log.gradient": "return out_grad / (node.inputs[0] + 1e-7)",
        "softmax_loss": """
exp_z = ndl.exp(Z)
totals = ndl.broadcast_to(ndl.reshape(ndl.summation(exp_z, axes=(1,)), (Z.shape[0], 1)), Z.shape)
probabilities = exp_z / totals
return -ndl.summation(y_one_hot * ndl.log(probabilities + 1e-7)) / Z.shape[0]
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
    "pia": Student("adds keepdims to Summation, summation() and Tensor.sum, and sums with it in gradients", {
        "Summation.compute": "return array_api.sum(a, axis=self.axes, keepdims=self.keepdims)",
        "Summation.gradient": """
in_shape = node.inputs[0].shape
if self.keepdims:
    return broadcast_to(out_grad, in_shape)
axes = range(len(in_shape)) if self.axes is None else self.axes
kept = [1 if i in axes else n for i, n in enumerate(in_shape)]
return broadcast_to(reshape(out_grad, tuple(kept)), in_shape)
""",
        "BroadcastTo.gradient": """
in_shape = node.inputs[0].shape
lead = len(out_grad.shape) - len(in_shape)
stretched = [lead + i for i, n in enumerate(in_shape) if n == 1 and out_grad.shape[lead + i] != 1]
axes = tuple(range(lead)) + tuple(stretched)
if not axes:
    return out_grad
return out_grad.sum(axes, keepdims=True).reshape(in_shape)
""",
        "softmax_loss": """
log_sum_exp = ndl.log(ndl.exp(Z).sum((1,), keepdims=True))
log_probabilities = Z - log_sum_exp.broadcast_to(Z.shape)
return -(log_probabilities * y_one_hot).sum() / Z.shape[0]
""",
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}, replaced={
        "Summation.__init__": """
def __init__(self, axes=None, keepdims=False):
    self.axes = axes
    self.keepdims = keepdims
""",
        "summation": """
def summation(a, axes=None, keepdims=False):
    return Summation(axes, keepdims)(a)
""",
        "Tensor.sum": """
def sum(self, axes=None, keepdims=False):
    return needle.ops.Summation(axes, keepdims)(self)
""",
    }),
    "quinn": Student("Transpose takes a full permutation as well as a pair; gradients build permutations", {
        "Transpose.compute": """
if self.axes is None:
    return array_api.swapaxes(a, -1, -2)
if len(self.axes) == 2:
    return array_api.swapaxes(a, *self.axes)
return array_api.transpose(a, self.axes)
""",
        "Transpose.gradient": """
ndim = len(out_grad.shape)
order = list(range(ndim))
if self.axes is None:
    order[-2], order[-1] = order[-1], order[-2]
elif len(self.axes) == 2:
    i, j = self.axes
    order[i], order[j] = order[j], order[i]
else:
    order = list(self.axes)
inverse = [0] * ndim
for position, axis in enumerate(order):
    inverse[axis] = position
return transpose(out_grad, tuple(inverse))
""",
        "MatMul.gradient": """
def last_two_swapped(t):
    n = len(t.shape)
    return transpose(t, tuple(range(n - 2)) + (n - 1, n - 2))
""" + COMMON["MatMul.gradient"].replace("transpose(", "last_two_swapped("),
    }, {RECURSIVE, INT_AXES, FLOAT64_WEIGHTS}),
}


@dataclasses.dataclass
class Variant:
    base: str
    bug: str
    blocks: dict
    fails: set        # every scored case that does not pass, named as in 2022 (see expected_fails)
    years: tuple = ("2022", "2023", "2024", "2025")   # the handouts where the buggy block is the student's


# From 2024 log and exp are graded with questions 1 and 2.
MOVED_IN_2024 = {f"softmax_loss::{op}_{way}": f"{'forward' if way == 'forward' else 'backward'}::{op}"
                 for op in ("log", "exp") for way in ("forward", "backward")}


def expected_fails(variant, year):
    """The scored cases a variant fails in that year's handout."""
    if year < "2024":
        return set(variant.fails)
    return {MOVED_IN_2024.get(case, case) for case in variant.fails}


def _cases(prefix, names):
    return {f"{prefix}[{name}]" for name in names}


MATMUL_BROADCAST = ["6x6x5x4@4x3", "5x4@6x6x4x3", "3x2x1@3x3x1x2", "2x4@2x4x4x2"]
NN_TRAINING = {"nn_epoch::one_step_is_the_gradient", "nn_epoch::lr_and_batch[lr0.3-batch20]",
               "nn_epoch::lr_and_batch[lr0.05-batch60]", "nn_epoch::full_epoch"}

VARIANTS = {
    "ada-divide-scalar-multiplies": Variant("ada", "DivScalar.compute multiplies", {
        "DivScalar.compute": "return a * self.scalar"},
        _cases("forward::divide_scalar", ["3x4", "5", "1x2-int"])),
    "ada-transpose-permutation": Variant("ada", "Transpose.compute passes the axis pair to np.transpose", {
        "Transpose.compute": "return array_api.transpose(a, self.axes)"},
        _cases("forward::transpose", ["2x3x4", "2x3x4-axes01", "2x3x4-axes02"])),
    "gus-summation-tuple-only": Variant("gus", "Summation.compute turns axes into a tuple, so an int fails", {
        "Summation.compute": "return array_api.sum(a, axis=None if self.axes is None else tuple(self.axes))"},
        {"forward::summation[5x4-axis1]"}),
    "ada-power-missing-factor": Variant("ada", "PowerScalar.gradient forgets the factor n", {
        "PowerScalar.gradient": "return out_grad * power_scalar(node.inputs[0], self.scalar - 1)"},
        {"backward::power_scalar[2]", "backward::power_scalar[3]"}),
    "ada-divide-sign": Variant("ada", "EWiseDiv.gradient loses the minus sign of the divisor's gradient", {
        "EWiseDiv.gradient": """
lhs, rhs = node.inputs
return out_grad / rhs, out_grad * lhs / (rhs * rhs)
"""}, {"backward::divide"}),
    "ada-broadcast-leading-axes-only": Variant("ada", "BroadcastTo.gradient sums the new leading axes only", {
        "BroadcastTo.compute": "return array_api.broadcast_to(a, self.shape)",
    "BroadcastTo.gradient": """
in_shape = node.inputs[0].shape
extra = len(out_grad.shape) - len(in_shape)
return summation(out_grad, axes=tuple(range(extra))) if extra else out_grad
"""}, _cases("backward::broadcast_to", ["3x1-3x3", "1x3-3x3", "1-3x3x3", "5x4x1-5x4x3", "4x1-3x4x5", "1x1-3x3",
                                         "1x4x1-3x4x5", "2x1x1-2x3x4"])),
    "ada-matmul-no-batch-sum": Variant("ada", "MatMul.gradient never sums over broadcast batch axes", {
        "MatMul.gradient": """
lhs, rhs = node.inputs
return matmul(out_grad, transpose(rhs)), matmul(transpose(lhs), out_grad)
"""}, _cases("backward::matmul", MATMUL_BROADCAST)),
    "ada-transpose-gradient-default-axes": Variant("ada", "Transpose.gradient swaps the last two axes always", {
        "Transpose.gradient": "return transpose(out_grad)"},
        _cases("backward::transpose", ["3x5x4-axes01", "2x3x4-axes02", "4x4x3-axes01"])),
    "ada-reshape-gradient-unshaped": Variant("ada", "Reshape.gradient returns out_grad in the output's shape", {
        "Reshape.gradient": "return out_grad"}, _cases("backward::reshape", ["3x4-2x6", "2x3x4-4x6"])),
    "ada-topo-pre-order": Variant("ada", "topo_sort_dfs appends a node before its inputs", {
        "topo_sort_dfs": """
if node in visited:
    return
visited.add(node)
topo_order.append(node)
for inp in node.inputs:
    topo_sort_dfs(inp, visited, topo_order)
"""}, {"topo_sort::scalar_expression", "topo_sort::matrix_expression", "topo_sort::shared_subexpression",
       "topo_sort::diamond", "topo_sort::same_input_twice", "topo_sort::chain_of_240"}),
    "ben-topo-right-to-left": Variant("ben", "the search takes a node's inputs right to left", {
        "find_topo_sort": ITERATIVE_TOPO_SORT.replace("reversed(node.inputs)", "node.inputs")},
        {"topo_sort::scalar_expression", "topo_sort::matrix_expression", "topo_sort::shared_subexpression",
         "topo_sort::diamond", "topo_sort::chain_of_240"}),
    "ada-first-order-only": Variant("ada", "each adjoint is detached, so gradients of gradients are lost", {
        "compute_gradient_of_variables": """
for node in reverse_topo_order:
    node.grad = sum_node_list(node_to_output_grads_list[node]).detach()
    if node.op is None:
        continue
    for inp, g in zip(node.inputs, node.op.gradient_as_tuple(node.grad, node)):
        node_to_output_grads_list.setdefault(inp, []).append(g)
"""}, {"compute_gradient::gradient_of_gradient_scalar", "compute_gradient::gradient_of_gradient_vector"}),
    "ada-exp-forward": Variant("ada", "Exp.compute returns 2 ** a", {
        "Exp.compute": "return array_api.power(2.0, a)"}, {"softmax_loss::exp_forward"}),
    "ada-log-base-10": Variant("ada", "Log.compute takes log10", {
        "Log.compute": "return array_api.log10(a)"}, {"softmax_loss::log_forward"}),
    "ada-broadcast-one-stretched-axis": Variant("ada", "BroadcastTo.gradient sums one stretched size-1 axis, not all", {
        "BroadcastTo.gradient": """
in_shape = node.inputs[0].shape
lead = len(out_grad.shape) - len(in_shape)
grad = summation(out_grad, axes=tuple(range(lead))) if lead else out_grad
stretched = [i for i, n in enumerate(in_shape) if n == 1 and grad.shape[i] != 1]
if stretched:
    grad = summation(grad, axes=(stretched[0],))
return reshape(grad, in_shape)
"""}, _cases("backward::broadcast_to", ["1x1-3x3", "1x4x1-3x4x5", "2x1x1-2x3x4"])),
    "ada-summation-gradient-axes-from-shapes": Variant("ada", "Summation.gradient tells the summed axes by shape", {
        "Summation.gradient": """
in_shape = node.inputs[0].shape
kept, j = [], 0
for n in in_shape:
    if j < len(out_grad.shape) and out_grad.shape[j] == n:
        kept.append(n)
        j += 1
    else:
        kept.append(1)
return broadcast_to(reshape(out_grad, tuple(kept)), in_shape)
"""}, {"backward::summation[4x4-axes0]"}),
    "ada-transpose-gradient-swaps-first-two": Variant("ada", "Transpose.gradient swaps axes 0 and 1 for the default", {
        "Transpose.gradient": "return transpose(out_grad, self.axes if self.axes is not None else (0, 1))"},
        {"backward::transpose[3x4x5]"}),
    "ada-transpose-gradient-axes-from-shapes": Variant("ada", "Transpose.gradient tells the swapped axes by shape", {
        "Transpose.gradient": """
in_shape = node.inputs[0].shape
swapped = tuple(i for i, (m, n) in enumerate(zip(in_shape, out_grad.shape)) if m != n)
return transpose(out_grad, swapped) if swapped else out_grad
"""}, {"backward::transpose[4x4x3-axes01]"}),
    "ada-adjoint-by-index": Variant("ada", "compute_gradient_of_variables picks a gradient by node.inputs.index", {
        "compute_gradient_of_variables": COMMON["compute_gradient_of_variables"]
            .replace("for inp, g in zip(node.inputs, grads):", "for inp in node.inputs:")
            .replace(".append(g)", ".append(grads[node.inputs.index(inp)])")},
        {"compute_gradient::one_node_as_both_inputs"}),
    "ada-pixels-not-scaled": Variant("ada", "parse_mnist leaves pixels in 0..255", {
        "parse_mnist": COMMON["parse_mnist"].replace(".astype(np.float32) / 255.0", ".astype(np.float32)")},
        {"softmax_loss::parse_mnist_other_files[7]", "softmax_loss::parse_mnist_other_files[31]",
         "softmax_loss::parse_mnist_dataset"}),
    "ada-fixed-learning-rate": Variant("ada", "nn_epoch ignores lr and steps by 0.1", {
        "nn_epoch": COMMON["nn_epoch"].replace("- lr *", "- 0.1 *")},
        {"nn_epoch::one_step_is_the_gradient", "nn_epoch::lr_and_batch[lr0.3-batch20]",
         "nn_epoch::lr_and_batch[lr0.05-batch60]", "nn_epoch::full_epoch"}),
    "ada-graph-grows": Variant("ada", "nn_epoch steps the weight tensors themselves: W1 - lr * grad", {
        "nn_epoch": COMMON["nn_epoch"].replace("ndl.Tensor(W1.numpy() - lr * W1.grad.numpy())",
                                               "W1 - lr * W1.grad.detach()")
                                      .replace("ndl.Tensor(W2.numpy() - lr * W2.grad.numpy())",
                                               "W2 - lr * W2.grad.detach()")},
        {"nn_epoch::graph_does_not_grow"}),
    "ada-relu-gradient-unmasked": Variant("ada", "ReLU.gradient passes out_grad through unmasked", {
        "ReLU.gradient": "return out_grad"}, {"nn_epoch::relu_backward"} | NN_TRAINING),
    "ada-broadcast-by-resize": Variant("ada", "BroadcastTo.compute repeats the flat array (numpy.resize)", {
        "BroadcastTo.compute": "return array_api.resize(a, self.shape)"},
        _cases("forward::broadcast_to", ["4x1-3x4x5", "3x1-3x3", "2x1-2x2", "1x3x1-3x3x3"]),
        years=("2023", "2024", "2025")),
    "ada-broadcast-by-searching-sizes": Variant(
        "ada", "BroadcastTo.compute squeezes, then puts each kept size at the last target axis of that size", {
            "BroadcastTo.compute": """
data = array_api.squeeze(a)
shape = [1] * len(self.shape)
axis = len(self.shape)
for size in reversed(data.shape):
    axis = max(i for i in range(axis) if self.shape[i] == size)
    shape[axis] = size
return array_api.broadcast_to(array_api.reshape(data, shape), self.shape)
"""}, _cases("forward::broadcast_to", ["3x1-3x3", "2x1-2x2", "1x3x1-3x3x3"]), years=("2023", "2024", "2025")),
    "ada-power-exponent-gradient": Variant("ada", "EWisePow.gradient forgets log(a) in the exponent's gradient", {
        "EWisePow.gradient": """
a, b = node.inputs
return out_grad * b * power(a, b - 1), out_grad * power(a, b)
"""}, {"backward::power"}, years=("2024", "2025")),
    "ada-power-forward-swapped": Variant("ada", "EWisePow.compute raises b to the a", {
        "EWisePow.compute": "return b ** a"}, {"forward::power[3x4]", "forward::power[2x3x2]"},
        years=("2024", "2025")),
}

# Bugs in code that later questions call: those cases fail too, and name the cause.
PROPAGATING = {
    "ada-adjoints-replaced": Variant("ada", "compute_gradient_of_variables keeps only the last partial adjoint", {
        "compute_gradient_of_variables": """
for node in reverse_topo_order:
    node.grad = node_to_output_grads_list[node][-1]
    if node.op is None:
        continue
    for inp, g in zip(node.inputs, node.op.gradient_as_tuple(node.grad, node)):
        node_to_output_grads_list[inp] = [g]
"""}, set()),
    "ada-loss-summed": Variant("ada", "softmax_loss sums over the batch instead of averaging", {
        "softmax_loss": COMMON["softmax_loss"].replace(") / batch", ")")}, set()),
}

# A bug that hangs: each call of Transpose.gradient loops for ever (its index never moves on). Only the
# cases that call it time out; tests/test_course.py grades it with a short time limit.
HANGING = {
    "ada-transpose-gradient-hangs": Variant("ada", "Transpose.gradient builds its permutation in a loop that never ends", {
        "Transpose.gradient": """
ndim = len(out_grad.shape)
i, j = self.axes if self.axes is not None else (ndim - 2, ndim - 1)
order = list(range(ndim))
k = 0
while k < ndim:
    if order[k] == i:
        order[k] = j
    elif order[k] == j:
        order[k] = i
return transpose(out_grad, (i, j))
"""}, _cases("backward::transpose", ["3x4", "3x5x4-axes12", "3x5x4-axes01", "2x3x4-axes02", "3x4x5",
                                      "4x4x3-axes01"])),
}


def fill(folder, bodies):
    """Write ``bodies`` (function -> code at column 0) into the solution blocks of the files under ``folder``."""
    from grader.handout import BEGIN_MARKER, fill_solutions

    for path in sorted(Path(folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if BEGIN_MARKER in text:
            path.write_text(fill_solutions(text, path.relative_to(folder).as_posix(), bodies), encoding="utf-8")
    return Path(folder)


def generated_with(folder, year, bodies):
    """That year's generated solution, in ``folder``, with the solution blocks named in ``bodies`` replaced."""
    from grader import years

    years.write_handout(folder, with_solutions=True, year=year)
    return fill(folder, bodies)


def replace_definitions(text, definitions):
    """``(text, names replaced)``: each function named in ``definitions`` (qualified name -> code at
    column 0) rewritten in place, at the definition's own indentation."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.FunctionDef) and prefix + child.name in definitions:
                found.append((child, prefix + child.name))

    visit(ast.parse(text), "")
    lines = text.splitlines(keepends=True)
    for node, name in sorted(found, key=lambda pair: -pair[0].lineno):
        code = textwrap.indent(definitions[name].strip("\n") + "\n", " " * node.col_offset)
        lines[node.lineno - 1:node.end_lineno] = [code]
    return "".join(lines), {name for _, name in found}


def build(starter, submission, target):
    """Write ``submission`` (a Student or Variant) onto the course's starter at ``starter``, into ``target``."""
    student = STUDENTS[submission.base] if isinstance(submission, Variant) else submission
    bodies = {**student.bodies(), **submission.blocks}
    replaced = set()
    for path in sorted(Path(starter).rglob("*.py")):
        destination = Path(target) / path.relative_to(starter)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text, names = replace_definitions(path.read_text(encoding="utf-8"), student.replaced)
        replaced |= names
        destination.write_text(text + student.added.get(path.relative_to(starter).as_posix(), ""), encoding="utf-8")
    missing = set(student.replaced) - replaced
    assert not missing, f"the starter in {starter} defines no {', '.join(sorted(missing))}"
    return fill(target, bodies)
