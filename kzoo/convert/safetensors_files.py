"""Reading safetensors checkpoints, single or sharded, in float32, bfloat16 or float16.

Written here rather than through `safetensors.numpy.load_file`, which cannot read bfloat16 (the
dtype most published Llama-style checkpoints use) and reports a damaged header as a Rust panic.
The format is small: an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the bytes.
"""

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
          "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
          "BOOL": np.bool_}
INDEX = "model.safetensors.index.json"


def read_safetensors(path) -> dict[str, np.ndarray]:
    """{name: array} from one .safetensors file; a damaged file is named with what is wrong."""
    path = Path(path)
    data = path.read_bytes()
    header = _header(path, data)
    tensors, start = {}, 8 + struct.unpack("<Q", data[:8])[0]
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry.get("dtype") not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {entry.get('dtype')!r}, which "
                             f"kzoo does not read; supported: {sorted(DTYPES)}.")
        begin, end = entry["data_offsets"]
        if start + end > len(data):
            raise ValueError(f"{path}: tensor {name!r} runs past the end of the file "
                             f"({len(data)} bytes); the file is truncated, download it again.")
        raw = np.frombuffer(data[start + begin:start + end], dtype=DTYPES[entry["dtype"]])
        tensors[name] = raw.reshape(entry["shape"])
    return tensors


def _header(path, data) -> dict:
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes is too short for a safetensors file; "
                         f"download it again.")
    length = struct.unpack("<Q", data[:8])[0]
    if length > len(data) - 8:
        raise ValueError(f"{path}: the safetensors header says {length} bytes but the file has "
                         f"{len(data) - 8} after it; the file is truncated or not safetensors.")
    try:
        header = json.loads(data[8:8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the safetensors header is not valid JSON ({error}); the file "
                         f"is damaged or not safetensors, download it again.") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header is not a JSON object; the file is "
                         f"damaged, download it again.")
    return header


def read_checkpoint_weights(directory) -> dict[str, np.ndarray]:
    """Every tensor of a Hugging Face checkpoint directory: model.safetensors, or the shards
    that model.safetensors.index.json lists."""
    directory = Path(directory)
    single, index = directory / "model.safetensors", directory / INDEX
    if single.exists():
        return read_safetensors(single)
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{index}: not a safetensors index (a JSON object with a "
                         f"'weight_map'): {error}.") from None
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        if not (directory / shard).exists():
            raise FileNotFoundError(f"{directory / shard}: a shard listed in {INDEX} is missing; "
                                    f"download every shard of the checkpoint.")
        tensors.update(read_safetensors(directory / shard))
    missing = sorted(set(weight_map) - set(tensors))
    if missing:
        raise ValueError(f"{index}: {len(missing)} tensors it lists are in no shard, e.g. "
                         f"{missing[0]!r}; download the checkpoint again.")
    return tensors


def has_weights(directory) -> bool:
    directory = Path(directory)
    return (directory / "model.safetensors").exists() or (directory / INDEX).exists()
