"""Tensors to start from: constants and random values, made on a device."""
import needle


def _device(device):
    return needle.cpu() if device is None else device


def rand(*shape, low=0.0, high=1.0, device=None, dtype="float32", requires_grad=False):
    """Uniform random values in [low, high)."""
    device = _device(device)
    values = low + (high - low) * device.rand(*shape)
    return needle.Tensor(values, device=device, dtype=dtype, requires_grad=requires_grad)


def randn(*shape, mean=0.0, std=1.0, device=None, dtype="float32", requires_grad=False):
    """Normal random values with the given mean and standard deviation."""
    device = _device(device)
    values = mean + std * device.randn(*shape)
    return needle.Tensor(values, device=device, dtype=dtype, requires_grad=requires_grad)


def constant(*shape, c=1.0, device=None, dtype="float32", requires_grad=False):
    """Every element equal to c."""
    device = _device(device)
    return needle.Tensor(device.full(shape, c, dtype=dtype), device=device, dtype=dtype,
                         requires_grad=requires_grad)


def ones(*shape, device=None, dtype="float32", requires_grad=False):
    return constant(*shape, c=1.0, device=device, dtype=dtype, requires_grad=requires_grad)


def zeros(*shape, device=None, dtype="float32", requires_grad=False):
    return constant(*shape, c=0.0, device=device, dtype=dtype, requires_grad=requires_grad)


def randb(*shape, p=0.5, device=None, dtype="bool", requires_grad=False):
    """Random booleans, each True with probability p."""
    device = _device(device)
    return needle.Tensor(device.rand(*shape) <= p, device=device, dtype=dtype, requires_grad=requires_grad)


def one_hot(n, i, device=None, dtype="float32", requires_grad=False):
    """Rows of n zeros with a one at each index of the Tensor i."""
    device = _device(device)
    return needle.Tensor(device.one_hot(n, i.numpy(), dtype=dtype), device=device, requires_grad=requires_grad)


def zeros_like(array, *, device=None, requires_grad=False):
    return zeros(*array.shape, dtype=array.dtype, device=device or array.device, requires_grad=requires_grad)


def ones_like(array, *, device=None, requires_grad=False):
    return ones(*array.shape, dtype=array.dtype, device=device or array.device, requires_grad=requires_grad)
