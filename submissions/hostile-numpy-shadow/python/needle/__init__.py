"""Hostile sample: ships modules named like numpy, pytest and the grader's, all of them lying."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


ops.Negate.compute = lambda self, a: a  # wrong: only a shadowed comparison could pass it
