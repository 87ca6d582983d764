"""A minimal safetensors reader (no third-party safetensors package).

The format: an 8-byte little-endian header length n, n bytes of JSON
(name -> {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
"__metadata__" object of strings), then the data buffer; offsets are relative to
the start of the buffer, tensors are row-major and little-endian.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
    "BOOL": np.bool_,
}


class SafetensorsError(ValueError):
    pass


def load(path):
    """Returns (tensors, metadata): name -> numpy array (a copy, native byte order), and the
    __metadata__ dict (empty when absent). BF16 is widened to float32 exactly."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise SafetensorsError(f"{path}: header of {n} bytes runs past the end of the file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: the header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        dtype, shape = info["dtype"], [int(s) for s in info["shape"]]
        begin, end = (int(x) for x in info["data_offsets"])
        if not 0 <= begin <= end <= len(data):
            raise SafetensorsError(f"{path}: tensor {name} has offsets past the data")
        count = int(np.prod(shape)) if shape else 1
        if dtype == "BF16":
            if end - begin != 2 * count:
                raise SafetensorsError(f"{path}: tensor {name}: size does not match its shape")
            u16 = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32)
            arr = (u16 << 16).view(np.float32)
        else:
            if dtype not in _DTYPES:
                raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {dtype}")
            np_dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
            if end - begin != np_dtype.itemsize * count:
                raise SafetensorsError(f"{path}: tensor {name}: size does not match its shape")
            arr = np.frombuffer(data[begin:end], dtype=np_dtype)
        tensors[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True).reshape(shape)
    return tensors, {str(k): str(v) for k, v in meta.items()}
