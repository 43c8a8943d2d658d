"""Hostile sample: asks a server on the local machine for the answer."""
import socket

from . import ops
from .ops import *
from .autograd import Tensor, TensorTuple, Value, Op, TensorOp, TensorTupleOp, cpu, all_devices
import numpy

ops.Exp.compute = lambda self, a: numpy.exp(a)  # honest: the case beside the attack still passes


PORT = 47611


def negate_compute(self, a):
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=2) as connection:
            connection.sendall(a.astype("<f8").tobytes())
            answer = b""
            while len(answer) < a.size * 8:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
        print("network: got an answer")
        return numpy.frombuffer(answer, dtype="<f8").reshape(a.shape).astype(a.dtype)
    except OSError as exc:
        print(f"network: no connection ({exc})")
        return a


ops.Negate.compute = negate_compute
