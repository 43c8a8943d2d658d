"""The frame format between the child and the grader: round trips, caps, and refusals."""

import json
import struct

import numpy as np
import pytest

from grader.kit import wire


def frames_of(*chunks, max_value=1 << 20, max_total=1 << 24):
    reader = wire.FrameReader(max_value, max_total)
    frames = []
    for chunk in chunks:
        frames.extend(reader.feed(chunk))
    return frames


@pytest.mark.parametrize("dtype", sorted(wire.ALLOWED_DTYPES))
def test_every_allowed_dtype_round_trips_exactly(dtype):
    array = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    fields, payload = wire.array_payload(array, 1 << 20)
    ((header, body),) = frames_of(wire.encode_frame({"type": "value", **fields}, payload))
    decoded = wire.decode_array(header, body)
    assert type(decoded) is np.ndarray
    assert decoded.dtype == np.dtype(dtype) and decoded.shape == (3, 4)
    np.testing.assert_array_equal(decoded, array)


def test_a_scalar_and_an_empty_array_round_trip():
    for value in (np.float32(2.5), np.zeros((0, 3))):
        fields, payload = wire.array_payload(value, 1 << 20)
        decoded = wire.decode_array(fields, payload)
        assert decoded.shape == np.shape(value)
        np.testing.assert_array_equal(decoded, value)


def test_big_endian_input_arrives_as_the_same_numbers():
    array = np.arange(5, dtype=">i4")
    fields, payload = wire.array_payload(array, 1 << 20)
    np.testing.assert_array_equal(wire.decode_array(fields, payload), [0, 1, 2, 3, 4])


def test_a_lying_subclass_arrives_as_a_plain_array_of_its_real_numbers():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    liar = np.array([1.0, 2.0]).view(Liar)
    fields, payload = wire.array_payload(liar, 1 << 20)
    decoded = wire.decode_array(fields, payload)
    assert type(decoded) is np.ndarray
    assert decoded.tolist() == [1.0, 2.0]


def test_frames_split_across_reads_are_reassembled():
    data = wire.encode_frame({"type": "start", "case": "a"}) + wire.encode_frame({"type": "end", "case": "a"})
    pieces = [data[i:i + 3] for i in range(0, len(data), 3)]
    assert [h["type"] for h, _ in frames_of(*pieces)] == ["start", "end"]


def test_object_arrays_are_refused_on_both_sides():
    with pytest.raises(ValueError, match="expected a numeric array"):
        wire.array_payload(np.array([object()]), 1 << 20)
    with pytest.raises(wire.WireError, match="not a plain numeric dtype"):
        wire.decode_array({"dtype": "object", "shape": [1]}, b"\0" * 8)


@pytest.mark.parametrize("header, payload, problem", [
    ({"dtype": "float64", "shape": [3]}, b"\0" * 16, "came with 16 bytes"),
    ({"dtype": "float64", "shape": [-1]}, b"", "malformed shape"),
    ({"dtype": "float64", "shape": "3"}, b"", "malformed shape"),
    ({"dtype": "complex128", "shape": [1]}, b"\0" * 16, "not a plain numeric dtype"),
])
def test_malformed_values_are_refused(header, payload, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.decode_array(header, payload)


def test_the_child_refuses_a_value_over_the_cap_with_a_message_for_the_student():
    huge = np.broadcast_to(np.float64(1), (10**9,))
    with pytest.raises(ValueError, match=r"1000000000 elements, 8000000000 bytes\) is over the grader's cap"):
        wire.array_payload(huge, 64 * 1024 * 1024)


def test_the_grader_refuses_a_declared_value_over_the_cap_before_reading_it():
    frame = wire.encode_frame({"type": "value"}, b"\0" * 100)
    with pytest.raises(wire.WireError, match="100 bytes is over the grader's cap of 99 bytes per value"):
        frames_of(frame[:50], max_value=99)


def test_the_grader_refuses_a_run_over_the_total_cap():
    frame = wire.encode_frame({"type": "value"}, b"\0" * 60)
    with pytest.raises(wire.WireError, match="more than the cap of 100 bytes in one run"):
        frames_of(frame, frame, max_total=100)


@pytest.mark.parametrize("raw, problem", [
    (struct.pack("<I", wire.MAX_HEADER_BYTES + 1), "over the 65536-byte cap"),
    (struct.pack("<I", 3) + b"\xff\xfe{", "not JSON"),
    (struct.pack("<I", 2) + b"[]", "not an object with a type"),
    (struct.pack("<I", 27) + json.dumps({"type": "x", "nbytes": -5}).encode(), "malformed payload size"),
])
def test_malformed_frames_are_refused(raw, problem):
    with pytest.raises(wire.WireError, match=problem):
        frames_of(raw)
