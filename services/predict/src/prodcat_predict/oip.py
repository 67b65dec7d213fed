"""Reading an Open Inference Protocol (V2) REST request, JSON or binary extension, into kserve's
`InferRequest`, every malformed part refused with a 400 that says what and where.

kserve 0.21's own decoder trusts the request: a non-integer or oversized
`Inference-Header-Content-Length`, a `binary_data_size` that is negative, past the end of the
body or inconsistent with the shape, or a corrupt BYTES length prefix each raised an internal
exception (500, counted in the 5xx alert). Here the JSON header is parsed strictly (orjson, which
also refuses lone surrogates), each tensor's shape must match its values, and the binary part is
walked with bounds checks. A request is binary when it carries `Inference-Header-Content-Length`
(the extension's marker), whatever its Content-Type; the JSON header sizes need no Content-Type
(the spec does not require one, and tritonclient sends none)."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from prodcat_core.errors import InvalidInputError

# The binary extension's header: length of the JSON part at the start of the body.
HEADER_LENGTH = "inference-header-content-length"

# Datatypes of the protocol and their fixed sizes in bytes (BYTES: length-prefixed strings).
DATATYPE_SIZES: dict[str, int | None] = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "FP32": 4,
    "FP64": 8,
    "BYTES": None,
}
_NUMPY_TYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_PREFIX = struct.Struct("<I")


class ProtocolError(InvalidInputError):
    """The request does not follow the Open Inference Protocol (400)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_length(header: str | None, body_size: int) -> int | None:
    """The JSON part's length from `Inference-Header-Content-Length` (None: a JSON request)."""
    if header is None:
        return None
    text = header.strip()
    if not text.isascii() or not text.isdigit():
        raise ProtocolError(f"{HEADER_LENGTH} is {header!r}: expected a non-negative integer")
    length = int(text)
    if length > body_size:
        raise ProtocolError(f"{HEADER_LENGTH} is {length}, more than the body's {body_size} bytes")
    return length


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _optional_object(value: Any, where: str) -> dict[str, Any] | None:
    return None if value is None else _object(value, where)


def _shape(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(_is_int(d) and d >= 0 for d in value):
        raise ProtocolError(f"{where}.shape: expected a list of non-negative integers")
    return list(value)


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return [data]


def _json_values(data: Any, datatype: str, count: int, where: str) -> list[Any]:
    values = _flatten(data)
    if len(values) != count:
        raise ProtocolError(f"{where}: the shape holds {count} values, data has {len(values)}")
    if datatype == "BYTES" and not all(isinstance(v, str) for v in values):
        raise ProtocolError(f"{where}: BYTES data must be strings")
    return values


def _binary_strings(raw: bytes, count: int, where: str) -> list[bytes]:
    """BYTES tensor data: each element a 4-byte little-endian length, then that many bytes."""
    values: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + _PREFIX.size > len(raw):
            raise ProtocolError(f"{where}: a length prefix is cut off at byte {offset}")
        (size,) = _PREFIX.unpack_from(raw, offset)
        offset += _PREFIX.size
        if offset + size > len(raw):
            raise ProtocolError(
                f"{where}: element {len(values)} claims {size} bytes, {len(raw) - offset} remain"
            )
        values.append(raw[offset : offset + size])
        offset += size
    if len(values) != count:
        raise ProtocolError(f"{where}: the shape holds {count} values, the data {len(values)}")
    return values


def _binary_values(raw: bytes, datatype: str, count: int, where: str) -> list[Any]:
    itemsize = DATATYPE_SIZES[datatype]
    if itemsize is None:
        return list(_binary_strings(raw, count, where))
    if len(raw) != count * itemsize:
        raise ProtocolError(
            f"{where}: binary_data_size is {len(raw)}; the shape needs {count * itemsize} bytes"
        )
    values: list[Any] = np.frombuffer(raw, dtype=_NUMPY_TYPES[datatype]).tolist()
    return values


def _input(spec: Any, index: int, body: bytes, offset: int | None) -> tuple[InferInput, int | None]:
    """One input tensor, and the offset of the next binary part (None: no binary part)."""
    where = f"inputs[{index}]"
    item = _object(spec, where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{where}.name: expected a non-empty string")
    where = f"input {name!r}"
    datatype = item.get("datatype")
    if not isinstance(datatype, str) or datatype.upper() not in DATATYPE_SIZES:
        raise ProtocolError(
            f"{where}: datatype {datatype!r} is not one of {', '.join(DATATYPE_SIZES)}"
        )
    datatype = datatype.upper()
    shape = _shape(item.get("shape"), where)
    count = math.prod(shape)
    parameters = _optional_object(item.get("parameters"), f"{where}.parameters") or {}
    size = parameters.get("binary_data_size")
    if "data" in item:
        if size is not None:
            raise ProtocolError(f"{where}: both data and binary_data_size are given")
        values = _json_values(item["data"], datatype, count, where)
    elif size is not None:
        if offset is None:
            raise ProtocolError(f"{where}: binary_data_size without the {HEADER_LENGTH} header")
        if not _is_int(size) or size < 0:
            raise ProtocolError(f"{where}: binary_data_size {size!r} is not a non-negative integer")
        if offset + size > len(body):
            raise ProtocolError(
                f"{where}: binary_data_size is {size}; only {len(body) - offset} bytes remain"
            )
        values = _binary_values(body[offset : offset + size], datatype, count, where)
        offset += size
        parameters = {k: v for k, v in parameters.items() if k != "binary_data_size"}
    else:
        raise ProtocolError(f"{where}: neither data nor parameters.binary_data_size")
    return InferInput(name, shape, datatype, values, parameters or None), offset


def _requested_outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProtocolError("outputs: expected a list")
    outputs = []
    for i, spec in enumerate(value):
        item = _object(spec, f"outputs[{i}]")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"outputs[{i}].name: expected a non-empty string")
        parameters = _optional_object(item.get("parameters"), f"outputs[{i}].parameters")
        outputs.append(RequestedOutput(name, parameters))
    return outputs or None


def decode_infer_request(body: bytes, header_length: str | None, model_name: str) -> InferRequest:
    """A V2 REST inference request body as kserve's `InferRequest` (ProtocolError: 400)."""
    length = json_length(header_length, len(body))
    head = body if length is None else body[:length]
    try:
        document = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        raise ProtocolError(f"the body is not valid JSON: {e}") from e
    request = _object(document, "the request")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("id: expected a string")
    parameters = _optional_object(request.get("parameters"), "parameters")
    specs = request.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise ProtocolError("inputs: expected a non-empty list of tensors")
    offset = length
    inputs = []
    for i, spec in enumerate(specs):
        tensor, offset = _input(spec, i, body, offset)
        inputs.append(tensor)
    if offset is not None and offset != len(body):
        raise ProtocolError(f"the body has {len(body) - offset} bytes after the last binary input")
    return InferRequest(
        model_name=model_name,
        infer_inputs=inputs,
        request_id=request_id,
        parameters=parameters,
        request_outputs=_requested_outputs(request.get("outputs")),
    )
