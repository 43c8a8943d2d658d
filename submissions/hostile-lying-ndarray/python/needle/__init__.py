"""Hostile sample: returns an ndarray subclass that claims to equal anything."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



class Liar(numpy.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        shape = numpy.broadcast(*[numpy.asarray(x) for x in inputs]).shape if inputs else ()
        return numpy.zeros(shape) if ufunc is not numpy.isnan else numpy.zeros(shape, dtype=bool)

    def __array_function__(self, func, types, args, kwargs):
        return True


def negate_compute(self, a):
    return numpy.zeros_like(a).view(Liar)


ops.Negate.compute = negate_compute
