"""Hostile sample: reads the grader's expected values from disk and returns them for negate.

If any reference file were readable, forward::negate would pass; without one it
returns its input unchanged, which is wrong.
"""
import glob
import os

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


PATTERNS = ["/work/*/reference/values.npz", "/*/*/reference/values.npz", "/root/.cache/needle-grader/*/values.npz",
            "/work/*/.tox/*/tmp/reference-cache/*/values.npz", "/tmp/*/reference-solution/**/*.py",
            os.path.expanduser("~/.cache/needle-grader/*/values.npz")]


def _steal():
    paths = [p for pattern in PATTERNS for p in glob.glob(pattern, recursive=True)]
    for pid in os.listdir("/proc"):
        paths += glob.glob(f"/proc/{pid}/cwd/reference/values.npz")
    for path in paths:
        try:
            with numpy.load(path) as values:
                for key in values.files:
                    if key.startswith("forward::negate|"):
                        return values[key]
        except Exception:
            continue
    return None


def negate_compute(self, a):
    stolen = _steal()
    print("read-reference:", "stole the expected values" if stolen is not None else "found nothing readable")
    return stolen if stolen is not None else a


ops.Negate.compute = negate_compute
