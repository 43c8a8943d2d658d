"""Hostile sample: negate asks the interpreter to exit with code 3."""
import sys

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


def negate_compute(self, a):
    sys.exit(3)


ops.Negate.compute = negate_compute
