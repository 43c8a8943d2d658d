"""Hostile sample: prints half a gigabyte, then returns a wrong value."""
import sys

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def negate_compute(self, a):
    line = "flood " * 170000 + "\n"
    for _ in range(500):
        sys.stdout.write(line)
    return a


ops.Negate.compute = negate_compute
