"""Hostile sample: leaves a daemon behind that rewrites files after grading ended."""
import os
import threading
import time

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


PROOF = "/tmp/needle-grader-daemon-proof"


def _haunt():
    time.sleep(1.5)
    for _ in range(100):
        try:
            with open(PROOF, "w") as handle:
                handle.write("the daemon outlived its grading\n")
        except OSError:
            pass
        time.sleep(0.5)


def negate_compute(self, a):
    threading.Thread(target=_haunt, daemon=True).start()
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                _haunt()
            os._exit(0)
        print("daemon: forked")
    except OSError as exc:
        print(f"daemon: could not fork ({exc})")
    return a


ops.Negate.compute = negate_compute
