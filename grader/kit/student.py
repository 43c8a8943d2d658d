"""The student's own functions inside the child: which of them a case ran, and stand-ins for the rest.

A case grades named functions of the student's (its ``checks``: ``EWiseDiv.gradient``,
``find_topo_sort``, ``nn_epoch``). So that a bug costs points only where its code lives,
the student functions a case reaches but does not grade are answered by stand-ins
where a stand-in gives nothing away:

- an op's ``compute`` is plain numpy (run after the student's own compute, on copies of
  the inputs, so that whatever state it keeps for its gradient is still kept). It follows
  the extensions students make (a ``keepdims`` on Summation, a full permutation for
  Transpose); where it cannot follow the student, the student's own value is kept: when
  the stand-in raises, or when the op carries an attribute the stand-in does not read and
  the student's own result has another shape. A compute that is merely wrong for an op
  the homework defines still gets the stand-in's value, so its bug costs only its own cases;
- ``find_topo_sort`` returns a valid order from Kahn's algorithm, which is not the
  post-order the topo_sort question grades.

Everything else (gradients, ``compute_gradient_of_variables``, the ``simple_ml``
functions) is always the student's own. Which of the student's functions a case
really ran is recorded, so that a failure can name a cause graded in another case;
so is a compute of the student's that raised where its stand-in answered instead
(the first time in a case for each), so that the case's message can say so: in the
student's own package that call would have crashed.

The grader also hears which of these calls is running long (one still running at two
looks ``WATCH_INTERVAL`` apart, and when it returns), so that when a case runs past its
time limit it knows the student function where it hung; a function the grader names
as hung (see ``grader/supervise.py`` for the rule) raises ``HungFunction`` when called.
"""

import itertools
import sys
import threading
import traceback
from time import sleep   # bound now: a submission that replaces time.sleep cannot make the watch spin

import numpy

MAX_RAISED_FRAMES = 20   # the innermost frames of a raised exception: where the student's code is
WATCH_INTERVAL = 0.5     # seconds between two looks at the student's running calls


class HungFunction(BaseException):
    """A student function the grader saw run past a case's time limit was called again.

    A BaseException, so that a student's own ``except Exception`` does not go on past it.
    """


def _transpose(op, a):
    if op.axes is None:
        return numpy.swapaxes(a, -1, -2)
    axes = tuple(op.axes)
    if len(axes) == 2:   # the homework's pair of axes to swap
        return numpy.swapaxes(a, *axes)
    return numpy.transpose(a, axes)   # a full permutation, as some students allow


def _summation(op, a):
    axes = tuple(op.axes) if isinstance(op.axes, list) else op.axes
    return numpy.asarray(numpy.sum(a, axis=axes, keepdims=bool(getattr(op, "keepdims", False))))


# op class -> (the attributes its stand-in reads, its forward on them); the starter's __init__ sets them
COMPUTE_STAND_INS = {
    "PowerScalar": (("scalar",), lambda op, a: a ** op.scalar),
    "EWisePow": ((), lambda op, a, b: a ** b),
    "EWiseDiv": ((), lambda op, a, b: a / b),
    "DivScalar": (("scalar",), lambda op, a: a / op.scalar),
    "Transpose": (("axes",), _transpose),
    "Reshape": (("shape",), lambda op, a: numpy.reshape(a, op.shape)),
    "BroadcastTo": (("shape",), lambda op, a: numpy.broadcast_to(a, op.shape)),
    "Summation": (("axes", "keepdims"), _summation),
    "MatMul": ((), lambda op, a, b: a @ b),
    "Negate": ((), lambda op, a: -a),
    "Log": ((), lambda op, a: numpy.log(a)),
    "Exp": ((), lambda op, a: numpy.exp(a)),
    "ReLU": ((), lambda op, a: numpy.maximum(a, 0)),
}


def topological_order(node_list):
    """Every node the given nodes depend on, each after its inputs (Kahn's algorithm)."""
    nodes, stack = {}, list(node_list)
    while stack:
        node = stack.pop()
        if id(node) not in nodes:
            nodes[id(node)] = node
            stack.extend(node.inputs)
    waiting = {key: len({id(i) for i in node.inputs}) for key, node in nodes.items()}
    consumers = {key: [] for key in nodes}
    for key, node in nodes.items():
        for input_key in {id(i) for i in node.inputs}:
            consumers[input_key].append(key)
    ready = [key for key, count in waiting.items() if count == 0]
    order = []
    while ready:
        key = ready.pop(0)
        order.append(nodes[key])
        for consumer in consumers[key]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    return order


FUNCTION_STAND_INS = {"find_topo_sort": topological_order}


class StudentCode:
    """The student's functions, wrapped once after import; ``begin`` starts each case.

    ``hung`` maps the functions the grader saw hang to the case where they did;
    ``send`` writes a frame to the grader.
    """

    def __init__(self, functions, hung=None, send=None):
        self.functions = [tuple(pair) for pair in functions]   # (module, qualified name)
        self.names = {name for _, name in self.functions}
        self.hung = dict(hung or {})
        self.send = send
        self.case = None
        self.checks = None      # the functions the running case grades; None outside a case
        self.used = set()
        self.raised = []        # the student's computes that raised where a stand-in answered, in this case
        self.refused = set()    # the hung functions this case called
        self.calls = []         # (token, name) of the wrapped calls running now, outermost first
        self.reported = set()   # tokens of the running calls the grader heard of
        self._tokens = itertools.count()
        self._reporting = threading.Lock()   # "running" and "returned" of one call reach the grader in order

    def begin(self, checks, case=None):
        self.case, self.checks, self.used, self.raised, self.refused = case, set(checks), set(), [], set()

    def end(self):
        used, self.checks, self.used, self.raised, self.case = sorted(self.used), None, set(), [], None
        return used

    def _note_raised(self, name, exc):
        if all(entry["function"] != name for entry in self.raised):
            frames = traceback.extract_tb(exc.__traceback__)[-MAX_RAISED_FRAMES:]
            self.raised.append({"function": name, "exception": type(exc).__name__, "message": str(exc)[:500],
                                "traceback": [{"path": frame.filename, "lineno": frame.lineno} for frame in frames]})

    def stands_in(self, name):
        return self.checks is not None and name not in self.checks

    def install(self, graded):
        """Wrap the student functions that have a stand-in or that some case grades.

        Call it once, after the student's modules are imported. Helpers no
        case grades (``topo_sort_dfs``) are left as they are: a wrapper would
        cost a recursive search a frame per level. A method is wrapped only
        where the student's class itself defines it, as the starter's blocks
        are written.
        """
        for module_name, name in self.functions:
            owner_name, _, attribute = name.rpartition(".")
            if owner_name:
                stand_in = COMPUTE_STAND_INS.get(owner_name) if attribute == "compute" else None
            else:
                stand_in = FUNCTION_STAND_INS.get(name)
            module = sys.modules.get(module_name)
            if module is None or "." in owner_name or (name not in graded and name not in self.hung
                                                       and stand_in is None):
                continue
            try:  # a module that failed to import stands in as one that raises on every use
                if owner_name:
                    owner = getattr(module, owner_name, None)
                    original = vars(owner).get(attribute) if isinstance(owner, type) else None
                else:
                    owner, original = module, getattr(module, attribute, None)
            except Exception:
                continue
            if original is not None:
                wrap = self._method if owner_name else self._function
                setattr(owner, attribute, wrap(name, original, stand_in))

    def watch(self):
        """Start telling the grader of the long calls, from a thread of the kit's own (see ``_watch``)."""
        threading.Thread(target=self._watch, name="needle-grader-watch", daemon=True).start()

    def _enter(self, name):
        """Start a call of the student's function ``name``; its token for ``_leave``."""
        if name in self.hung:
            self._refuse(name)
        token = next(self._tokens)
        self.calls.append((token, name))
        return token

    def _leave(self, token):
        if self.calls and self.calls[-1][0] == token:
            self.calls.pop()
        else:   # calls from threads of the student's own may end out of order
            self.calls = [call for call in self.calls if call[0] != token]
        if self.reported:
            with self._reporting:
                if token in self.reported:
                    self.reported.discard(token)
                    self.send({"type": "returned", "case": self.case, "call": token})

    def _refuse(self, name):
        self.used.add(name)
        if name not in self.refused and self.send is not None:
            self.refused.add(name)
            self.send({"type": "calls_hung", "case": self.case, "function": name})
        raise HungFunction(f"{name} ran past its time limit in {self.hung[name]}; it is not run again")

    def _watch(self):
        """Tell the grader of each call still running at two looks in a row (and, in ``_leave``, of its end).

        A call is marked reported before it is looked for again: the student's
        thread takes it off ``calls`` before it reads ``reported``, so a call
        that ends meanwhile is either not told of at all, or told of and then
        of its end, in that order.
        """
        seen = set()
        while True:
            sleep(WATCH_INTERVAL)
            with self._reporting:
                running = list(self.calls)
                for call in running:
                    token, name = call
                    if token in seen and token not in self.reported:
                        self.reported.add(token)
                        if call in self.calls:
                            self.send({"type": "running", "case": self.case, "call": token, "function": name})
                        else:
                            self.reported.discard(token)
            seen = {token for token, _ in running}

    def _method(self, name, original, stand_in):
        code = self

        def method(op, *args, **kwargs):
            bound = original.__get__(op, type(op)) if hasattr(original, "__get__") else original
            token = code._enter(name)
            try:
                if stand_in is not None and code.stands_in(name):
                    own = True   # until the stand-in answers: a compute that raises is the student's
                    try:
                        value, own, own_error = _stand_in_value(stand_in, op, bound, args, kwargs)
                    finally:
                        if own:
                            code.used.add(name)
                    if own_error is not None:
                        code._note_raised(name, own_error)
                    return value
                code.used.add(name)
                return bound(*args, **kwargs)
            finally:
                code._leave(token)

        method.__wrapped__ = original
        return method

    def _function(self, name, original, stand_in):
        code = self

        def function(*args, **kwargs):
            if stand_in is not None and code.stands_in(name):
                return stand_in(*args, **kwargs)   # the student's own is not called at all
            code.used.add(name)
            token = code._enter(name)
            try:
                return original(*args, **kwargs)
            finally:
                code._leave(token)

        function.__wrapped__ = original
        return function


def _stand_in_value(stand_in, op, own_compute, args, kwargs):
    """``(value, whether it is the student's own, what the student's raised)`` for an op's compute that a
    case does not grade.

    The student's compute runs first, on copies, for whatever state it keeps;
    its result is kept only where the stand-in cannot follow the student. When
    it raised and the stand-in answered, its exception comes back beside the
    stand-in's value.
    """
    reads, forward = stand_in
    extended = bool(set(getattr(op, "__dict__", ())) - set(reads))   # before the student's compute caches anything
    try:
        own, own_error = own_compute(*[numpy.array(a, copy=True) for a in args], **kwargs), None
    except Exception as exc:
        own, own_error = None, exc
    try:
        value = forward(op, *args)
    except Exception:
        if own_error is not None:
            raise own_error from None
        return own, True, None
    if own_error is None and extended and numpy.shape(value) != _shape(own):
        return own, True, None
    return value, False, own_error


def _shape(value):
    try:
        return numpy.shape(value)
    except Exception:
        return None
