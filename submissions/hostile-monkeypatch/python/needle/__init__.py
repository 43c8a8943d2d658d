"""Hostile sample: patches numpy's comparisons in the process it runs in to always agree."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def _agree(*args, **kwargs):
    return True


def negate_compute(self, a):
    numpy.allclose = numpy.array_equal = numpy.array_equiv = _agree
    numpy.isclose = lambda *args, **kwargs: numpy.ones(numpy.broadcast(*args[:2]).shape, dtype=bool)
    numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *args, **kwargs: None
    numpy.testing.assert_array_almost_equal = numpy.testing.assert_equal = lambda *args, **kwargs: None
    return a


ops.Negate.compute = negate_compute
