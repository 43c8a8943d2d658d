"""Hostile sample: writes files named like the grader's results wherever it can reach."""
import glob
import json
import os

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


FAKE = {"submission": "hostile-result-files", "name": "hostile-result-files", "score": 100, "max_score": 100,
        "suites": []}


def negate_compute(self, a):
    targets = ["results.json", "result.json", "hostile-result-files.json", os.path.expanduser("~/results.json"),
               "/tmp/results.json", "/work/main/results/hostile-result-files.json"]
    targets += glob.glob("/tmp/pytest-of-*/pytest-*/**/*.json", recursive=True)
    folder = os.getcwd()
    while folder != "/":
        folder = os.path.dirname(folder)
        targets.append(os.path.join(folder, "results.json"))
    written = 0
    for target in targets:
        try:
            with open(target, "w") as handle:
                json.dump(FAKE, handle)
            written += 1
        except OSError:
            pass
    print(f"result-files: wrote {written} fake result files")
    return a


ops.Negate.compute = negate_compute
