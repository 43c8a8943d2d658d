"""needle: necessary elements of deep learning (CMU 10-714), homework 1."""
from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
from .init import ones, zeros, zeros_like, ones_like
from . import init
