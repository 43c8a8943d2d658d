"""Frames that carry values from the sandboxed child to the grader.

A frame is a little-endian u32 header length, a UTF-8 JSON object (the header),
then ``header["nbytes"]`` bytes of payload. Arrays travel as raw little-endian
bytes with their dtype and shape in the header: decoding never runs code (no
pickle), accepts numeric dtypes only, and always yields a fresh, plain ndarray,
so a lying ndarray subclass in the child arrives as the numbers it really holds.

This module runs on both sides of the sandbox; it needs the standard library
and, for arrays only, numpy (imported where used, so that the sandbox probe,
which sends no arrays, starts fast).
"""

import json
import os
import struct

ALLOWED_DTYPES = frozenset(
    ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
     "uint64", "float16", "float32", "float64"]
)
MAX_HEADER_BYTES = 64 * 1024
_LENGTH = struct.Struct("<I")


class WireError(Exception):
    """A frame broke the format or a size cap; the rest of the stream is not trusted."""


def encode_frame(header, payload=b""):
    header = dict(header, nbytes=len(payload))
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    if len(text) > MAX_HEADER_BYTES:
        raise WireError(f"frame header of {len(text)} bytes is over the {MAX_HEADER_BYTES}-byte cap")
    return _LENGTH.pack(len(text)) + text + payload


def write_frame(fd, header, payload=b""):
    data = memoryview(encode_frame(header, payload))
    while data:
        data = data[os.write(fd, data):]


def array_payload(value, max_bytes):
    """Header fields and bytes for an array-like value (child side).

    Raises ``ValueError`` with a message meant for the student when the value
    is not numeric or too large; the grader checks both again on arrival.
    """
    import numpy as np

    array = np.asarray(value)
    dtype = array.dtype.name
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"value has dtype {array.dtype}, expected a numeric array")
    nbytes = array.size * array.itemsize
    if nbytes > max_bytes:
        raise ValueError(
            f"value of shape {array.shape} ({array.size} elements, {nbytes} bytes) "
            f"is over the grader's cap of {max_bytes} bytes per value"
        )
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return {"dtype": dtype, "shape": list(array.shape)}, np.ascontiguousarray(little).tobytes()


def decode_array(header, payload):
    """A plain ndarray from a value frame (grader side); ``WireError`` if malformed."""
    import numpy as np

    dtype = header.get("dtype")
    shape = header.get("shape")
    if dtype not in ALLOWED_DTYPES:
        raise WireError(f"value has dtype {dtype!r}, which is not a plain numeric dtype")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ) or len(shape) > 32:
        raise WireError(f"value has a malformed shape {shape!r}")
    itemsize = np.dtype(dtype).itemsize
    if int(np.prod(shape, dtype=object)) * itemsize != len(payload):
        raise WireError(f"value of dtype {dtype} and shape {tuple(shape)} came with {len(payload)} bytes")
    array = np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder("<"))
    return array.astype(np.dtype(dtype), copy=True).reshape(shape)


class FrameReader:
    """Splits a byte stream into ``(header, payload)`` frames, enforcing caps (grader side)."""

    def __init__(self, max_value_bytes, max_total_bytes):
        self.max_value_bytes = max_value_bytes
        self.max_total_bytes = max_total_bytes
        self.total_bytes = 0
        self._buffer = bytearray()

    def feed(self, data):
        self.total_bytes += len(data)
        if self.total_bytes > self.max_total_bytes:
            raise WireError(f"the submission sent more than the cap of {self.max_total_bytes} bytes in one run")
        self._buffer += data
        frames = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self):
        if len(self._buffer) < _LENGTH.size:
            return None
        (header_len,) = _LENGTH.unpack_from(self._buffer)
        if header_len > MAX_HEADER_BYTES:
            raise WireError(f"frame header of {header_len} bytes is over the {MAX_HEADER_BYTES}-byte cap")
        if len(self._buffer) < _LENGTH.size + header_len:
            return None
        raw = bytes(self._buffer[_LENGTH.size:_LENGTH.size + header_len])
        try:
            header = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WireError(f"frame header is not JSON: {exc}") from None
        if not isinstance(header, dict) or not isinstance(header.get("type"), str):
            raise WireError("frame header is not an object with a type")
        nbytes = header.get("nbytes", 0)
        if not isinstance(nbytes, int) or nbytes < 0:
            raise WireError(f"frame declares a malformed payload size {nbytes!r}")
        if nbytes > self.max_value_bytes:
            raise WireError(
                f"a value of {nbytes} bytes is over the grader's cap of {self.max_value_bytes} bytes per value"
            )
        end = _LENGTH.size + header_len + nbytes
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[_LENGTH.size + header_len:end])
        del self._buffer[:end]
        return header, payload
