"""The stand-ins of ops a case does not grade: right answers, following what students add to an op."""

import sys
import types

import numpy as np
import pytest

from grader.kit.student import StudentCode

A = np.arange(24.0).reshape(2, 3, 4)


@pytest.fixture
def student_op():
    """``make(op class name, its compute, **what __init__ sets)``: the op and the case running it.

    The case grades a gradient only, so the op's compute is the grader's to answer.
    """
    modules = []

    def make(name, compute, **attributes):
        module = types.ModuleType(f"student_ops_{len(modules)}")
        setattr(module, name, type(name, (), {"compute": lambda self, a: compute(a)}))
        sys.modules[module.__name__] = module
        modules.append(module.__name__)
        code = StudentCode([(module.__name__, f"{name}.compute")])
        code.install({"Summation.gradient"})
        code.begin(["Summation.gradient"])
        instance = getattr(module, name)()
        vars(instance).update(attributes)
        return instance, code

    yield make
    for name in modules:
        del sys.modules[name]


def test_a_wrong_compute_of_an_op_as_the_homework_defines_it_gets_the_stand_ins_answer(student_op):
    reversed_axes, code = student_op("Transpose", np.transpose, axes=None)   # every axis reversed, not the last two
    np.testing.assert_array_equal(reversed_axes.compute(A), A.swapaxes(-1, -2))
    assert code.end() == []


def test_keepdims_and_a_full_permutation_are_followed(student_op):
    kept, code = student_op("Summation", lambda a: np.zeros((2, 1, 4)), axes=(1,), keepdims=True)
    np.testing.assert_array_equal(kept.compute(A), A.sum(axis=1, keepdims=True))
    assert code.end() == []
    permuted, code = student_op("Transpose", lambda a: np.zeros((4, 2, 3)), axes=(2, 0, 1))
    np.testing.assert_array_equal(permuted.compute(A), np.transpose(A, (2, 0, 1)))
    assert code.end() == []


def test_an_attribute_the_stand_in_does_not_read_keeps_the_students_own_value_of_another_shape(student_op):
    own, code = student_op("Summation", lambda a: a.sum(axis=1, keepdims=True) + 0.5, axes=(1,), keep_dims=True)
    np.testing.assert_array_equal(own.compute(A), A.sum(axis=1, keepdims=True) + 0.5)
    assert code.end() == ["Summation.compute"]
    same_shape, code = student_op("Summation", lambda a: a.sum(axis=1) + 0.5, axes=(1,), keep_dims=False)
    np.testing.assert_array_equal(same_shape.compute(A), A.sum(axis=1))
    assert code.end() == []


def test_where_the_stand_in_raises_the_students_own_value_is_kept(student_op):
    own, code = student_op("Transpose", lambda a: a[..., ::-1], axes=(2, 1, 0, 3))
    np.testing.assert_array_equal(own.compute(A), A[..., ::-1])
    assert code.end() == ["Transpose.compute"]


def test_a_compute_that_raises_gets_the_stand_in_unless_both_raise(student_op):
    def unfinished(a):
        raise NotImplementedError("the student's")

    summation, code = student_op("Summation", unfinished, axes=(0,))
    np.testing.assert_array_equal(summation.compute(A), A.sum(axis=0))
    assert code.end() == []
    transpose, code = student_op("Transpose", unfinished, axes=(5, 6, 7))
    with pytest.raises(NotImplementedError, match="the student's"):
        transpose.compute(A)
    assert code.end() == ["Transpose.compute"]


def test_a_compute_that_raises_where_the_stand_in_answers_is_noted_once_a_case(student_op):
    def overflows(a):
        return a * -1   # numpy 2: a Python int out of bounds for uint8 raises

    negate, code = student_op("Negate", overflows)
    small = np.array([0, 1, 2], dtype=np.uint8)
    np.testing.assert_array_equal(negate.compute(small), -small)   # the stand-in wraps, as numpy's negative does
    negate.compute(small)
    ((raised,),) = [code.raised]
    assert {key: raised[key] for key in ("function", "exception", "message")} == {
        "function": "Negate.compute", "exception": "OverflowError",
        "message": "Python integer -1 out of bounds for uint8"}
    assert raised["traceback"][-1]["lineno"] == overflows.__code__.co_firstlineno + 1
    assert code.end() == [] and code.raised == []
    code.begin(["Summation.gradient"])
    negate.compute(np.array([1.0]))
    assert code.raised == []    # a compute that answers notes nothing


def test_a_function_the_grader_saw_hang_stops_the_case_that_calls_it():
    from grader.kit.student import HungFunction

    module = types.ModuleType("student_apps_hung")
    module.nn_epoch = lambda *args: "ran"
    sys.modules[module.__name__] = module
    frames = []
    try:
        # no case left grades nn_epoch, yet it is wrapped: it hung in an earlier case
        code = StudentCode([(module.__name__, "nn_epoch")], hung={"nn_epoch": "nn_epoch::full_epoch"},
                           send=frames.append)
        code.install(graded=set())
        code.begin(["softmax_loss"], "softmax_loss::softmax_loss_backward")
        for _ in range(2):
            with pytest.raises(HungFunction, match=r"nn_epoch ran past its time limit in nn_epoch::full_epoch"):
                module.nn_epoch()
        assert frames == [{"type": "calls_hung", "case": "softmax_loss::softmax_loss_backward",
                           "function": "nn_epoch"}]
        assert code.end() == ["nn_epoch"] and code.calls == []
    finally:
        del sys.modules[module.__name__]


def test_a_call_still_running_at_two_looks_is_told_to_the_grader_and_so_is_its_end(monkeypatch):
    import threading

    from grader.kit import student

    monkeypatch.setattr(student, "WATCH_INTERVAL", 0.01)
    told = threading.Event()
    frames = []

    def send(frame):
        frames.append(frame)
        told.set()

    module = types.ModuleType("student_apps_long")
    module.nn_epoch = lambda: told.wait(30)   # runs until the grader is told of it
    module.softmax_loss = lambda: "quick"
    sys.modules[module.__name__] = module
    try:
        code = StudentCode([(module.__name__, "nn_epoch"), (module.__name__, "softmax_loss")], send=send)
        code.install({"nn_epoch", "softmax_loss"})
        code.begin(["nn_epoch"], "nn_epoch::x")
        code.watch()
        assert module.softmax_loss() == "quick" and module.nn_epoch() is True
        assert frames == [{"type": "running", "case": "nn_epoch::x", "call": 1, "function": "nn_epoch"},
                          {"type": "returned", "case": "nn_epoch::x", "call": 1}]
    finally:
        del sys.modules[module.__name__]
