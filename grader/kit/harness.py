"""What the suites use inside the child: the submission, inputs, and ``submit``.

A suite case computes values with the submission and submits them; it never
sees an expected value, and whether a value is right is decided by the grader
in its own process. In the reference run the same cases compute the expected
values from the reference needle, and the metadata given here (tolerances,
which values are gradients) is recorded; in a student run that metadata is
ignored.
"""

import fcntl
import struct
import sys
import termios
import threading
import time
import zlib

import numpy as np

from . import idx, loader, student, wire

# Set by the runner before pytest starts.
RUN = None


class CaseError(Exception):
    """The submission returned something the case cannot use; the message says what."""


class Run:
    def __init__(self, config, channel_fd):
        self.config = config
        self.channel_fd = channel_fd
        self.case = None
        self.modules = {}
        self._sending = threading.Lock()   # the watch of the student's long calls sends from its own thread
        self.student = student.StudentCode(config["student"], config.get("hung"), self.send)
        self.mnist = None

    def send(self, header, payload=b""):
        with self._sending:
            wire.write_frame(self.channel_fd, header, payload)

    @property
    def reference(self):
        return self.config["mode"] == "reference"


def _run():
    if RUN is None:
        raise RuntimeError("the suites run only inside the grader's child process")
    return RUN


def _student_module(name):
    run = _run()
    if name not in run.modules:
        run.send({"type": "import", "module": name, "phase": "start"})
        run.modules[name] = loader.load(name, run.config["submission"], run.config["blocked_imports"].get(name))
        run.send({"type": "import", "module": name, "phase": "end"})
    return run.modules[name]


def needle():
    """The submission's ``needle`` package."""
    return _student_module("needle")


def simple_ml():
    """The submission's ``apps/simple_ml.py``."""
    needle()
    return _student_module("simple_ml")


def rng(stream=""):
    """A generator seeded by the run's seed and the case, so inputs survive restarts and reordering."""
    run = _run()
    key = f"{run.config['seed']}:{run.case}:{stream}".encode()
    return np.random.default_rng(zlib.crc32(key))


def dataset():
    """Paths of the images and labels files the grader chose (never the submission's own data)."""
    data = _run().config["data"]
    return data["images"], data["labels"]


def mnist():
    """The grading data as parse_mnist returns it (X float32 in [0, 1], y uint8), read by the kit.

    Cases that only need the data never depend on the student's parse_mnist.
    """
    run = _run()
    if run.mnist is None:
        images, labels = dataset()
        pixels = idx.read_idx(images)
        run.mnist = (pixels.reshape(pixels.shape[0], -1).astype(np.float32) / np.float32(255), idx.read_idx(labels))
    return run.mnist


def scratch_dir():
    return _run().config["scratch"]


def as_array(value, what):
    """A numpy array from a Tensor or array-like the submission returned."""
    if value is None:
        raise CaseError(f"{what} is None")
    if hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        try:
            value = value.numpy()
        except Exception as exc:
            raise CaseError(f"{what}: calling .numpy() raised {type(exc).__name__}: {exc}") from exc
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise CaseError(f"{what} is not an array ({type(value).__name__}): {exc}") from exc
    if array.dtype.name not in wire.ALLOWED_DTYPES:
        raise CaseError(f"{what} has dtype {array.dtype}, expected numbers")
    return array


def submit(name, value, *, rtol=None, atol=None, norm=None, exact_dtype=False, kind="value", role="value"):
    """Send one computed value of the current case to the grader.

    The tolerance travels only from the reference run: elementwise (``rtol``,
    ``atol``) or by the norm of the difference (``norm``), as ``compare`` says.
    """
    run = _run()
    array = as_array(value, name)
    try:
        fields, payload = wire.array_payload(array, run.config["max_value_bytes"])
    except ValueError as exc:
        raise CaseError(f"{name}: {exc}") from None
    header = {"type": "value", "case": run.case, "name": name, "role": role, **fields}
    if run.reference:
        header.update(kind=kind, rtol=rtol, atol=atol, norm=norm, exact_dtype=exact_dtype)
    run.send(header, payload)


def submit_gradient(name, analytic, numeric=None, **tolerance):
    """Send a gradient, with the numerical gradient of the submission's own forward beside it when given."""
    submit(name, analytic, kind="gradient", **tolerance)
    if numeric is not None:
        submit(name, numeric, role="numeric")


def numeric_gradient(function, inputs, index, step=1e-3):
    """The central-difference gradient of ``function(*inputs)`` with respect to ``inputs[index]``.

    Only a student run needs it (the reference run returns ``None``), and only
    to explain a failure: is the gradient wrong, or the forward? Two calls per
    element, error ~step**2 relative on a smooth function, far inside the
    gradient tolerances. It is plain numpy because numdifftools would cost
    each graded submission 0.4 s of importing scipy. Through a relu, use a
    tiny step so that the stencil does not straddle a kink.
    """
    if _run().reference:
        return None
    point = np.array(inputs[index], dtype=np.float64)
    args = list(inputs)
    gradient = np.empty(point.size)
    flat = point.reshape(-1)
    for position in range(point.size):
        original = flat[position]
        sides = []
        for shifted in (original + step, original - step):
            flat[position] = shifted
            args[index] = point.copy()
            sides.append(float(function(*args)))
        flat[position] = original
        gradient[position] = (sides[0] - sides[1]) / (2 * step)
    return gradient.reshape(point.shape)


def flush_output(drained_within=0.1):
    """Flush what was printed, and give the grader a moment to read it before the next frame is sent.

    The output and the frames reach the grader by different pipes: output
    still unread in its pipe when a frame arrives could be counted after that
    frame, with the wrong case. A pipe's unread bytes (FIONREAD) fall to 0 once
    the grader has read them; a submission printing without pause only delays
    its own frames, by ``drained_within`` seconds at most.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    deadline = time.monotonic() + drained_within
    for fd in (1, 2):
        while time.monotonic() < deadline:
            try:
                unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            except OSError:    # not a pipe (the submission moved it): nothing to wait for
                break
            if not unread:
                break
            time.sleep(0.0002)
