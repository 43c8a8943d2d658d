"""Hostile sample: changes all it can reach in the process it runs in, hoping to outlive its own grading.

Graded before another submission by children forked from one template, it must
change nothing of the other's result: numpy, pytest, the kit, the environment,
the random state, files, signals and limits all die with its process.
"""
import atexit
import gc
import os
import random
import signal
import sys
import warnings

import numpy
import pytest
import _pytest.python

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def _open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


# What the process inherited: its own pipes, and nothing of a template's.
print("lingering: open descriptors", [fd for fd in range(1024) if _open(fd)])

numpy.random.seed(1234)
random.seed(1234)
numpy.allclose = numpy.array_equal = lambda *args, **kwargs: True
numpy.matmul = lambda a, b, *args, **kwargs: numpy.zeros((numpy.shape(a)[0], numpy.shape(b)[-1]))
numpy.random.default_rng = lambda *args, **kwargs: numpy.random.Generator(numpy.random.PCG64(0))
pytest.approx = lambda *args, **kwargs: object()
_pytest.python.Function.runtest = lambda self: None   # no case would run its checks
sys.modules["needle_grader_kit.harness"].submit = lambda *args, **kwargs: None
sys.path.insert(0, os.getcwd())
with open("numpy.py", "w") as handle:   # in its scratch folder, which the next child never sees
    handle.write("raise SystemExit('a planted numpy')\n")
os.environ.update(OPENBLAS_NUM_THREADS="64", PYTHONHASHSEED="0", HOME="/nowhere")
os.umask(0o777)
gc.disable()
warnings.simplefilter("error")
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.setrecursionlimit(200)
atexit.register(lambda: print("lingering: atexit ran"))


def negate_compute(self, a):
    return a


ops.Negate.compute = negate_compute
