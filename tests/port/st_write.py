"""A minimal safetensors writer (json + numpy): an 8-byte little-endian header length, the JSON
header (name -> dtype, shape, data_offsets; "__metadata__" of strings), padded with spaces to a
multiple of 8, then the row-major little-endian data."""
import json
import struct

import numpy as np

_NAMES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64",
          np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}


def save(path, tensors, metadata=None):
    """tensors: name -> numpy array (F32, F64, I64, I32 or U8); metadata: str -> str."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = np.array(a, copy=False, order="C")       # (ascontiguousarray makes 0-d 1-d)
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
