"""Read a serialized model without its large inline weights (protobuf wire format).

``onnx.load`` of a file with 700 MB of inline weights holds the file's bytes
and the parsed copy at once (2× the file in memory) and spends most of its
time copying weights that static analysis never reads. :func:`strip_weights`
walks the wire format of a memory-mapped file instead: it copies every field
of the ModelProto except the ``raw_data`` of large initializers, which it
skips by their length prefix without touching their pages, and records where
each skipped payload lies in the file (verification reads them from there).

Only three message levels are walked (ModelProto → GraphProto → TensorProto),
iteratively and with every length checked against the buffer. Anything
unusual (a second graph field, a group, a second raw_data in one tensor, a
name that is not UTF-8, a length past the end) returns None, and the caller
parses the whole file as before, so malformed input gets the usual errors.
"""

from __future__ import annotations

from typing import Optional

#: Field numbers from onnx.proto.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_NAME = 8
_TENSOR_RAW_DATA = 9

#: raw_data payloads at least this large are skipped.
MIN_SKIPPED_BYTES = 64 * 1024


class _Malformed(Exception):
    pass


def _varint(buf, pos: int, end: int) -> tuple:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf, start: int, end: int):
    """``(field number, wire type, field start, payload start, payload end)`` of a message."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed
        if wire == 0:
            _, after = _varint(buf, pos, end)
            payload = pos
        elif wire == 1:
            payload, after = pos, pos + 8
        elif wire == 5:
            payload, after = pos, pos + 4
        elif wire == 2:
            length, payload = _varint(buf, pos, end)
            after = payload + length
        else:  # groups (3, 4) and reserved wire types
            raise _Malformed
        if after > end:
            raise _Malformed
        yield number, wire, field_start, payload, after
        pos = after


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): key, length, payload."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def _strip_tensor(buf, start: int, end: int, skipped: dict) -> Optional[bytes]:
    """The tensor without a large raw_data, or None when it keeps everything."""
    name, raw, kept = None, None, []
    for number, wire, field_start, payload, after in _fields(buf, start, end):
        if number == _TENSOR_NAME and wire == 2:
            name = payload, after
        if number == _TENSOR_RAW_DATA and wire == 2:
            if raw is not None:
                raise _Malformed  # a repeated raw_data: the last one wins; not worth modelling
            raw = (payload, after)
        else:
            kept.append((field_start, after))
    if raw is None or raw[1] - raw[0] < MIN_SKIPPED_BYTES:
        return None
    if name is None:
        raise _Malformed
    try:
        text = bytes(buf[name[0]:name[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed from None
    if text in skipped:
        raise _Malformed
    skipped[text] = (raw[0], raw[1] - raw[0])
    return b"".join(bytes(buf[a:b]) for a, b in kept)


def strip_weights(buf) -> Optional[tuple]:
    """``(model bytes without large raw_data, {initializer name: (offset, length)})``.

    ``buf`` is a bytes-like object (a memoryview of an mmap). Returns None when
    no initializer is large enough to skip, or the bytes are anything but a
    plainly well-formed ModelProto.
    """
    end = len(buf)
    skipped: dict = {}
    try:
        graphs = [f for f in _fields(buf, 0, end) if f[0] == _MODEL_GRAPH]
        if len(graphs) != 1 or graphs[0][1] != 2:
            return None
        _, _, graph_field, graph_start, graph_end = graphs[0]
        graph = bytearray()
        for number, wire, field_start, payload, after in _fields(buf, graph_start, graph_end):
            tensor = _strip_tensor(buf, payload, after, skipped) \
                if number == _GRAPH_INITIALIZER and wire == 2 and after - payload >= MIN_SKIPPED_BYTES \
                else None  # a smaller tensor cannot hold a large raw_data
            if tensor is None:
                graph += buf[field_start:after]
            else:
                graph += length_delimited(_GRAPH_INITIALIZER, tensor)
        if not skipped:
            return None
        model = bytearray()
        for number, wire, field_start, payload, after in _fields(buf, 0, end):
            if field_start == graph_field:
                model += length_delimited(_MODEL_GRAPH, bytes(graph))
            else:
                model += buf[field_start:after]
    except _Malformed:
        return None
    return bytes(model), skipped
