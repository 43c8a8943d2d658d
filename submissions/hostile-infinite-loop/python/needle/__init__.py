"""Hostile sample: negate never returns."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def negate_compute(self, a):
    while True:
        pass


ops.Negate.compute = negate_compute
