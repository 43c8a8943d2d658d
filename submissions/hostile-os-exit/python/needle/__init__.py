"""Hostile sample: ends its own process in the middle of the suite."""
import os

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def negate_compute(self, a):
    os._exit(0)


ops.Negate.compute = negate_compute
