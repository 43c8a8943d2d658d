"""Devices: where a tensor's data lives, and how to make arrays there.

This homework has one device, the CPU, whose arrays are numpy's. Later
homeworks add their own array library and a GPU behind the same interface.
"""
import numpy


class Device:
    """Where a tensor's data lives."""


class CPUDevice(Device):
    """The only device of this homework: numpy arrays in host memory."""

    def __repr__(self):
        return "needle.cpu()"

    def __hash__(self):
        return hash("cpu")

    def __eq__(self, other):
        return isinstance(other, CPUDevice)

    def enabled(self):
        return True

    def zeros(self, *shape, dtype="float32"):
        return numpy.zeros(shape, dtype=dtype)

    def ones(self, *shape, dtype="float32"):
        return numpy.ones(shape, dtype=dtype)

    def randn(self, *shape):
        # numpy's generators make float64; callers cast when they need to
        return numpy.random.standard_normal(shape)

    def rand(self, *shape):
        return numpy.random.random_sample(shape)

    def one_hot(self, n, i, dtype="float32"):
        return numpy.eye(n, dtype=dtype)[numpy.asarray(i, dtype=numpy.int64)]

    def empty(self, shape, dtype="float32"):
        return numpy.empty(shape, dtype=dtype)

    def full(self, shape, fill_value, dtype="float32"):
        return numpy.full(shape, fill_value, dtype=dtype)


def cpu():
    """The (only) device."""
    return CPUDevice()


def default_device():
    return cpu()


def all_devices():
    """Every device needle can use here: just the CPU."""
    return [cpu()]
