"""Hostile sample: negate crashes the interpreter with a segmentation fault."""
import ctypes

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


def negate_compute(self, a):
    ctypes.string_at(0)  # reads address 0


ops.Negate.compute = negate_compute
