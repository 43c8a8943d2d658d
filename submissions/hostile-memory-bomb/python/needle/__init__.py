"""Hostile sample: negate allocates memory until something gives."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def negate_compute(self, a):
    hoard = []
    while True:
        hoard.append(numpy.ones(10**8))


ops.Negate.compute = negate_compute
