"""Hostile sample: imports the grader's own (reference) needle and uses its negate."""
import glob
import importlib.metadata
import importlib.util
import os
import sys

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes



def _reference_folders():
    folders = glob.glob("/work/*/needle") + glob.glob("/**/site-packages/needle", recursive=False)
    try:
        dist = importlib.metadata.distribution("needle-grader")
        for file in dist.files or []:
            if str(file).endswith("needle/ops.py"):
                folders.append(os.path.dirname(str(dist.locate_file(file))))
        direct = dist.read_text("direct_url.json") or ""
        if "file://" in direct:
            folders.append(direct.split("file://", 1)[1].split('"', 1)[0] + "/needle")
    except Exception:
        pass
    for entry in sys.path:
        folders.append(os.path.join(entry, "needle"))
    return [f for f in folders if os.path.isfile(os.path.join(f, "ops.py")) and "scratch" not in f and "submissions" not in f]


def _reference_negate():
    for folder in _reference_folders():
        try:
            spec = importlib.util.spec_from_file_location("reference_needle", os.path.join(folder, "__init__.py"),
                                                          submodule_search_locations=[folder])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.ops.Negate.compute
        except Exception:
            continue
    return None


def negate_compute(self, a):
    stolen = _reference_negate()
    print("import-reference:", "imported the reference needle" if stolen else "no reference needle found")
    return stolen(self, a) if stolen else a


ops.Negate.compute = negate_compute
