"""Reading the worker's frames: .npy payloads checked before use, pipes read with a deadline."""

from __future__ import annotations

import io
import json
import os
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest

from grader.errors import Closed, Deadline, TransportError
from grader.sandbox.inside.frames import MAX_HEADER, write_message
from grader.sandbox.transport import MAX_MESSAGE, Reader, parse_npy


def npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=False)
    return buf.getvalue()


def npy_v1(header: str, payload: bytes = b"") -> bytes:
    """A version 1.0 .npy payload with a header written by hand (no numpy, no pickle)."""
    text = header.encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


def frame(part: bytes) -> bytes:
    return struct.pack(">Q", len(part)) + part


class Pipe:
    """Both ends of an os.pipe(), closed once each at the end of the test."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.open = [self.r, self.w]

    def close_writer(self) -> None:
        os.close(self.w)
        self.open.remove(self.w)

    def close(self) -> None:
        for fd in self.open:
            os.close(fd)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    yield p
    p.close()


def soon() -> float:
    return time.monotonic() + 2.0


# parse_npy: what is accepted -------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, -2.0, 3.25], [0.0, 1e-300, -7.0]]),
        np.array([1, -2, 3], dtype=np.int32),
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        np.array([7, 255], dtype=np.uint8),
        np.array([True, False, True]),
        np.array([0.5, 1.5], dtype=np.float32),
        np.array([1.0, 2.0], dtype=">f8"),
        np.array(2.5),
        np.array(3, dtype=np.int64),
        np.zeros((0, 3)),
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_parse_npy_accepts_plain_numeric_arrays(array: np.ndarray) -> None:
    parsed = parse_npy(npy(array))
    assert parsed.dtype == array.dtype
    assert parsed.shape == array.shape
    assert np.array_equal(parsed, array)


def test_parse_npy_reads_fortran_order_with_the_right_element_positions() -> None:
    array = np.asfortranarray(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    data = npy(array)
    assert b"'fortran_order': True" in data
    parsed = parse_npy(data)
    assert parsed.shape == (2, 3)
    assert parsed[0, 2] == 3.0
    assert parsed[1, 0] == 4.0
    assert parsed.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_parse_npy_reads_format_version_2() -> None:
    parsed = parse_npy(npy(np.array([1.0, 2.0]), version=(2, 0)))
    assert parsed.tolist() == [1.0, 2.0]


def test_parse_npy_reads_a_header_written_by_hand() -> None:
    payload = struct.pack("<2d", 1.5, -4.0)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
    assert parse_npy(npy_v1(header, payload)).tolist() == [1.5, -4.0]


def test_parsed_array_is_a_writable_copy() -> None:
    parsed = parse_npy(npy(np.array([1.0, 2.0])))
    assert parsed.flags.writeable
    assert parsed.flags.owndata


# parse_npy: what is rejected -------------------------------------------------------------


def test_parse_npy_rejects_object_dtype_without_unpickling() -> None:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"
    with pytest.raises(ValueError, match="not a plain numeric type"):
        parse_npy(npy_v1(header, b"\x00" * 16))


def test_parse_npy_rejects_structured_dtypes() -> None:
    record = np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")])
    with pytest.raises(ValueError, match="not a plain numeric type"):
        parse_npy(npy(record))


def test_parse_npy_rejects_complex_numbers() -> None:
    with pytest.raises(ValueError, match="complex128 is not a plain numeric type"):
        parse_npy(npy(np.array([1 + 2j, 3 - 1j])))


@pytest.mark.parametrize("descr", ["<U3", "|S4", "<M8[s]", "|V8"])
def test_parse_npy_rejects_text_bytes_dates_and_void(descr: str) -> None:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}"
    with pytest.raises(ValueError, match="not a plain numeric type"):
        parse_npy(npy_v1(header, b"\x00" * 12))


def test_parse_npy_rejects_a_payload_shorter_than_the_header_says() -> None:
    data = npy(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="payload of 16 bytes does not hold 3 values"):
        parse_npy(data[:-8])


def test_parse_npy_rejects_a_payload_longer_than_the_header_says() -> None:
    data = npy(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="payload of 25 bytes does not hold 3 values"):
        parse_npy(data + b"\x00")


def test_parse_npy_rejects_a_truncated_header() -> None:
    data = npy(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="unreadable .npy header"):
        parse_npy(data[:30])


def test_parse_npy_rejects_an_oversized_header() -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + " " * 5000
    with pytest.raises(ValueError, match="oversized .npy header"):
        parse_npy(npy_v1(header, b"\x00" * 8))


def test_parse_npy_rejects_an_oversized_version_2_header() -> None:
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 20) + b"{}"
    with pytest.raises(ValueError, match="oversized .npy header"):
        parse_npy(data)


@pytest.mark.parametrize("blob", [b"", b"hello world, not an array", b"\x93NUMPY", b"PK\x03\x04"])
def test_parse_npy_rejects_blobs_that_are_not_npy(blob: bytes) -> None:
    with pytest.raises(ValueError, match="not an .npy payload"):
        parse_npy(blob)


def test_parse_npy_rejects_an_unknown_format_version() -> None:
    with pytest.raises(ValueError, match="unknown .npy version 9"):
        parse_npy(b"\x93NUMPY\x09\x00" + b"\x00" * 16)


@pytest.mark.parametrize(
    "header",
    [
        "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (True,), }",
    ],
    ids=["negative", "float", "bool"],
)
def test_parse_npy_rejects_bad_shapes(header: str) -> None:
    with pytest.raises(ValueError, match="bad shape"):
        parse_npy(npy_v1(header, b"\x00" * 8))


@pytest.mark.parametrize(
    "header",
    [
        "{'descr': '<f8', 'shape': (1,), }",
        "[1, 2, 3]",
        "__import__('os').getcwd()",
        "{'descr': 7, 'fortran_order': False, 'shape': (1,), }",
    ],
    ids=["missing key", "not a dict", "a call", "descr not a type"],
)
def test_parse_npy_rejects_unreadable_headers(header: str) -> None:
    with pytest.raises(ValueError, match="unreadable .npy header"):
        parse_npy(npy_v1(header, b"\x00" * 8))


def test_parse_npy_rejects_a_version_2_header_cut_short() -> None:
    with pytest.raises(ValueError):
        parse_npy(b"\x93NUMPY\x02\x00\x10\x00")


def test_parse_npy_rejects_a_dimension_beyond_int64() -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551616,), }"
    with pytest.raises(ValueError):
        parse_npy(npy_v1(header))


# Reader over a pipe ----------------------------------------------------------------------


def test_reader_reads_a_message_written_by_the_worker(pipe: Pipe) -> None:
    dx = np.array([[0.5, -1.0], [2.0, 0.0]])
    loss = np.array(1.25)
    write_message(pipe.w, {"type": "result", "status": "ok"}, {"dx": npy(dx), "loss": npy(loss)})
    message = Reader(pipe.r).read(soon())
    assert message.header["type"] == "result"
    assert message.header["status"] == "ok"
    assert sorted(message.arrays) == ["dx", "loss"]
    assert message.arrays["dx"].tolist() == [[0.5, -1.0], [2.0, 0.0]]
    assert message.arrays["loss"].shape == ()
    assert float(message.arrays["loss"]) == 1.25
    assert message.rejected == {}


def test_reader_reads_consecutive_messages_in_order(pipe: Pipe) -> None:
    write_message(pipe.w, {"type": "started"})
    write_message(pipe.w, {"type": "ready", "functions": ["affine_forward"]})
    reader = Reader(pipe.r)
    assert reader.read(soon()).header["type"] == "started"
    second = reader.read(soon())
    assert second.header == {"type": "ready", "functions": ["affine_forward"], "arrays": []}


def test_reader_lists_rejected_arrays_and_keeps_good_ones(pipe: Pipe) -> None:
    good = npy(np.array([1.0, 2.0]))
    obj = npy_v1("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\x00" * 8)
    write_message(pipe.w, {"type": "result"}, {"out": good, "cache": obj, "junk": b"xyz"})
    message = Reader(pipe.r).read(soon())
    assert list(message.arrays) == ["out"]
    assert message.arrays["out"].tolist() == [1.0, 2.0]
    assert sorted(message.rejected) == ["cache", "junk"]
    assert "not a plain numeric type" in message.rejected["cache"]
    assert message.rejected["junk"] == "not an .npy payload"


def test_reader_raises_deadline_when_nothing_arrives(pipe: Pipe) -> None:
    start = time.monotonic()
    with pytest.raises(Deadline):
        Reader(pipe.r).read(start + 0.1)
    elapsed = time.monotonic() - start
    assert 0.09 <= elapsed < 2.0


def test_reader_raises_deadline_on_half_a_message(pipe: Pipe) -> None:
    header = json.dumps({"type": "result"}).encode()
    os.write(pipe.w, struct.pack(">Q", len(header)) + header[:5])
    with pytest.raises(Deadline):
        Reader(pipe.r).read(time.monotonic() + 0.1)


def test_reader_raises_deadline_at_once_when_the_deadline_has_passed(pipe: Pipe) -> None:
    with pytest.raises(Deadline):
        Reader(pipe.r).read(time.monotonic() - 1.0)


def test_reader_raises_closed_at_end_of_file(pipe: Pipe) -> None:
    pipe.close_writer()
    with pytest.raises(Closed):
        Reader(pipe.r).read(soon())


def test_reader_raises_closed_when_the_writer_dies_mid_message(pipe: Pipe) -> None:
    os.write(pipe.w, struct.pack(">Q", 100) + b'{"type"')
    pipe.close_writer()
    with pytest.raises(Closed):
        Reader(pipe.r).read(soon())


def test_reader_refuses_a_header_longer_than_the_cap(pipe: Pipe) -> None:
    # Only the length prefix is sent: the cap must be checked before reading the part.
    os.write(pipe.w, struct.pack(">Q", MAX_HEADER + 1))
    with pytest.raises(TransportError, match=rf"too large \({MAX_HEADER + 1} bytes"):
        Reader(pipe.r).read(soon())


def test_reader_refuses_an_array_longer_than_the_message_cap(pipe: Pipe) -> None:
    header = json.dumps({"type": "result", "arrays": [["out", 1]]}).encode()
    os.write(pipe.w, frame(header) + struct.pack(">Q", MAX_MESSAGE + 1))
    with pytest.raises(TransportError, match="too large"):
        Reader(pipe.r).read(soon())


def test_reader_refuses_a_header_that_is_not_json(pipe: Pipe) -> None:
    os.write(pipe.w, frame(b"this is not json"))
    with pytest.raises(TransportError, match="not JSON"):
        Reader(pipe.r).read(soon())


def test_reader_refuses_a_header_that_is_not_utf8(pipe: Pipe) -> None:
    os.write(pipe.w, frame(b"\xff\xfe{}"))
    with pytest.raises(TransportError, match="not JSON"):
        Reader(pipe.r).read(soon())


@pytest.mark.parametrize(
    "header",
    [b"[1, 2]", b'"text"', b'{"arrays": "out"}'],
    ids=["list", "string", "arrays not a list"],
)
def test_reader_refuses_a_header_that_is_not_an_object_with_a_list(
    pipe: Pipe, header: bytes
) -> None:
    os.write(pipe.w, frame(header))
    with pytest.raises(TransportError, match="not an object with a list of arrays"):
        Reader(pipe.r).read(soon())


def test_reader_refuses_a_malformed_array_entry(pipe: Pipe) -> None:
    os.write(pipe.w, frame(b'{"arrays": [[1, 2]]}'))
    with pytest.raises(TransportError, match="bad array entry"):
        Reader(pipe.r).read(soon())


@pytest.mark.parametrize(
    "nested",
    [
        b"[" * 20000 + b"]" * 20000,  # too deep for the JSON parser
        b'{"a": ' * 600 + b"1" + b"}" * 600,  # parsed, then too deep for the text check
    ],
)
def test_reader_refuses_a_deeply_nested_header(pipe: Pipe, nested: bytes) -> None:
    os.write(pipe.w, frame(nested))
    with pytest.raises(TransportError):
        Reader(pipe.r).read(soon())


def test_lone_surrogates_from_the_worker_become_valid_text() -> None:
    # JSON can carry "\ud800", which no file or terminal accepts: it must not reach them.
    r, w = os.pipe()
    try:
        body = b'{"type": "result", "error": "bad \\ud800 value"}'
        os.write(w, len(body).to_bytes(8, "big") + body)
        message = Reader(r).read(time.monotonic() + 5)
    finally:
        os.close(r)
        os.close(w)
    message.header["error"].encode("utf-8")
    assert message.header["error"] == "bad ? value"
