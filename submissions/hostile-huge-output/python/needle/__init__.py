"""Hostile sample: returns a billion-element array that costs no memory to make."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


ops.Negate.compute = lambda self, a: numpy.broadcast_to(numpy.float64(1.0), (10**9,))
