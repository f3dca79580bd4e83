"""tinytape.save and tinytape.load: tensors and state dicts in a documented numpy format.

    tinytape.save(model_state, "model.tt")             # a path, a pathlib.Path or a binary file
    state = tinytape.load("model.tt")

What can be saved: tensors, numpy arrays, and dicts (OrderedDicts stay OrderedDicts), lists and
tuples of them, of numbers (int, float, bool; numpy scalars are saved as the Python number),
strings and None: a module's or an optimizer's state dict. A tensor keeps its dtype, shape and
requires_grad (not its .grad nor its graph, as torch's files). Tensors that share memory are
saved once and load sharing memory: the same tensor twice loads as one tensor, views of one array
(W and W.T, x and x[1:]) load as views of one array.

The file is a zip archive (an .npz: `np.load(path)` opens it) of
- `tinytape.json`: what the object is, in JSON (format "tinytape", version 1): its structure,
  and for each tensor its storage, offset, shape, stride (in elements) and requires_grad;
- `0.npy`, `1.npy`, ...: the storages, one .npy array each (C order, no pickled objects).
docs/serialization.md describes every field and how to read a file with plain numpy.

Loading never unpickles (np.load's allow_pickle=False is the only way arrays are read, and the
description is JSON): a torch file, a pickle, a plain .npy/.npz or a damaged file is refused with
a RuntimeError that says what the file is, before anything is built; nothing is returned.
"""
import io
import json
import math
import os
import struct
import zipfile
import uuid
import zlib
from collections import OrderedDict

import numpy as np

from . import dtypes
from .device import check as _check_device, device
from .tensor import Tensor, _make

__all__ = ["save", "load"]

FORMAT, VERSION = "tinytape", 1
DESCRIPTION = "tinytape.json"
_DTYPES = {str(d.dtype): d.dtype for d in dtypes.ALL}         # "float32" -> np.dtype('float32')
_DATE = (1980, 1, 1, 0, 0, 0)                                  # fixed: the same object gives the same bytes
_MAX_JSON = 1 << 28
TORCH_HINT = ("To bring a torch state dict over, save its arrays with numpy where torch is installed: "
              "np.savez('weights.npz', **{k: v.numpy() for k, v in torch_state.items()}); then "
              "state = {k: tinytape.from_numpy(v) for k, v in np.load('weights.npz').items()}.")


# ---------------------------------------------------------------------------------- save
def save(obj, f):
    """Write `obj` to `f` (a path, a pathlib.Path, or a binary file object open for writing).
    A path is written atomically: the previous file stays whole until the new one is complete."""
    description, storages = _describe(obj)              # raises before anything is written
    if isinstance(f, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(f))
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "xb") as out:                # (the umask's permissions, as open() gives)
                _write(out, description, storages)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    elif hasattr(f, "write"):
        _write(f, description, storages)
    else:
        raise TypeError(f"tinytape.save: f must be a path or a binary file object, not {type(f).__name__}")


def _write(out, description, storages):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr(zipfile.ZipInfo(DESCRIPTION, _DATE), json.dumps(description, allow_nan=False))
        for k, a in enumerate(storages):
            with z.open(zipfile.ZipInfo(f"{k}.npy", _DATE), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, a, allow_pickle=False)


def _describe(obj):
    """(the JSON description, the storage arrays) of obj; TypeError/ValueError for what cannot be saved."""
    tensors = []                                        # (tensor or array, its array) in first-seen order
    index = {}                                          # id -> position in tensors
    active = set()                                      # ids of the containers being described (cycles)

    def value(x, where):
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, (Tensor, np.ndarray)):
            if id(x) not in index:
                a = x._data if isinstance(x, Tensor) else x
                dtypes.to_numpy(a.dtype)
                index[id(x)] = len(tensors)
                tensors.append((x, a))
            return {"tensor": index[id(x)]}
        if isinstance(x, (int, np.integer)):
            return int(x)
        if isinstance(x, np.bool_):
            return bool(x)
        if isinstance(x, (float, np.floating)):
            x = float(x)
            return x if math.isfinite(x) else {"float": repr(x)}          # "nan", "inf", "-inf"
        if isinstance(x, (dict, list, tuple)):
            if id(x) in active:
                raise ValueError(f"tinytape.save: {where} contains itself")
            active.add(id(x))
            try:
                if isinstance(x, dict):
                    kind = "OrderedDict" if isinstance(x, OrderedDict) else "dict"
                    return {kind: [[key(k, where), value(v, f"{where}[{k!r}]")] for k, v in x.items()]}
                kind = "tuple" if isinstance(x, tuple) else "list"
                return {kind: [value(v, f"{where}[{i}]") for i, v in enumerate(x)]}
            finally:
                active.discard(id(x))
        raise TypeError(f"tinytape.save: cannot save {where}, of type {type(x).__name__}: tinytape saves tensors, "
                        f"numpy arrays, numbers, strings, None, and dicts, lists and tuples of them")

    def key(k, where):
        if isinstance(k, (Tensor, np.ndarray)):
            raise TypeError(f"tinytape.save: a tensor as a dict key in {where} cannot be saved")
        return value(k, f"a key of {where}")

    structure = value(obj, "the object")
    records, storages = _storages(tensors)
    return {"format": FORMAT, "version": VERSION, "storages": [{"dtype": str(a.dtype), "shape": list(a.shape)}
                                                                  for a in storages],
            "tensors": records, "object": structure}, storages


def _root(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _bounds(a):
    """The bytes a non-empty array reads: [lo, hi)."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize


def _storages(tensors):
    """Group the arrays that share memory into storages: a storage is the span of memory they read
    (saved once), each tensor an offset and strides into it. An array alone is saved as itself."""
    groups = {}
    for k, (_, a) in enumerate(tensors):
        groups.setdefault(id(_root(a)) if a.size else ("empty", k), []).append(k)
    records, storages = [None] * len(tensors), []
    for members in groups.values():
        arrays = [tensors[k][1] for k in members]
        span = _span(arrays) if len({id(a) for a in arrays}) > 1 else None
        if span is None:                                # each array as itself (tensors on one array share it)
            own = {}
            for k, a in zip(members, arrays):
                if id(a) not in own:
                    own[id(a)] = len(storages)
                    storages.append(np.ascontiguousarray(a))
                records[k] = _record(tensors[k][0], a, own[id(a)], 0, _c_strides(a.shape))
            continue
        flat, lo = span
        for k, a in zip(members, arrays):
            start = (a.__array_interface__["data"][0] - lo) // a.itemsize
            records[k] = _record(tensors[k][0], a, len(storages), start, [s // a.itemsize for s in a.strides])
        storages.append(flat)
    return records, storages


def _span(arrays):
    """(a 1-D array of the memory all the arrays read, its first byte's address), or None if they
    are not of one dtype with element-aligned offsets and strides inside one contiguous array."""
    dtype, root = arrays[0].dtype, _root(arrays[0])
    if not (root.flags.c_contiguous or root.flags.f_contiguous) or root.size == 0:
        return None
    rlo, rhi = _bounds(root)
    bounds = [_bounds(a) for a in arrays]
    lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
    aligned = all(a.dtype == dtype and (a.__array_interface__["data"][0] - lo) % dtype.itemsize == 0
                  and all(s % dtype.itemsize == 0 for s in a.strides) for a in arrays)
    if not aligned or lo < rlo or hi > rhi:
        return None
    memory = root.reshape(-1, order="F" if root.flags.f_contiguous and not root.flags.c_contiguous else "C")
    return memory.view(np.uint8)[lo - rlo:hi - rlo].view(dtype), lo


def _c_strides(shape):
    strides, n = [], 1
    for d in reversed(shape):
        strides.append(n)
        n *= d
    return strides[::-1]


def _record(x, a, storage, offset, stride):
    r = {"storage": storage, "offset": int(offset), "shape": list(a.shape), "stride": [int(s) for s in stride]}
    if isinstance(x, np.ndarray):
        r["class"] = "ndarray"
    else:
        r["requires_grad"] = bool(x._rg)
        if type(x).__name__ == "Parameter":
            r["class"] = "Parameter"
    return r


# ---------------------------------------------------------------------------------- load
class _Refused(Exception):
    """Why a file is not loaded (turned into one RuntimeError naming the file)."""


def load(f, map_location=None, weights_only=True, mmap=None):
    """The object `save` wrote to `f` (a path, a pathlib.Path or a binary file object). Nothing
    in the file is executed, whatever `weights_only` says: the file holds arrays and JSON only.
    `map_location` may name the CPU (the only device); `mmap` is accepted and ignored."""
    if isinstance(map_location, (str, device)):
        _check_device(map_location)
    name = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file"
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as fp:
                return _load(fp)
        if not hasattr(f, "read"):
            raise TypeError(f"tinytape.load: f must be a path or a binary file object, not {type(f).__name__}")
        if not (hasattr(f, "seekable") and f.seekable()):
            f = io.BytesIO(f.read())
        return _load(f)
    except _Refused as e:
        raise RuntimeError(f"tinytape.load: {name} {e}") from None


def _load(fp):
    if isinstance(fp, io.TextIOBase):
        raise TypeError("tinytape.load: the file must be opened in binary mode ('rb')")
    start = fp.tell()
    head = fp.read(8)
    fp.seek(start)
    if not isinstance(head, bytes):
        raise TypeError("tinytape.load: the file must be opened in binary mode ('rb')")
    if not head:
        raise _Refused("is empty: it is not a file written by tinytape.save")
    if head[:1] == b"\x80":
        raise _Refused("is a pickle (torch's legacy format or a pickled Python object): tinytape.load never "
                       "unpickles, since unpickling can run arbitrary code. " + TORCH_HINT)
    if head.startswith(b"\x93NUMPY"):
        raise _Refused("is a single .npy array, not a file written by tinytape.save: read it with "
                       "tinytape.from_numpy(np.load(path))")
    if not head.startswith(b"PK"):
        raise _Refused(f"is not a file written by tinytape.save (it is not a zip archive; it starts with {head!r})")
    try:
        with zipfile.ZipFile(fp) as z:
            description, storages = _read(z)
    except _Refused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error,
            NotImplementedError, RecursionError, zlib.error) as e:
        raise _Refused(f"is damaged: {type(e).__name__}: {e}") from None
    return _build(description, storages)


def _read(z):
    """The checked description and the storage arrays (flat, C order) of an open archive."""
    names = z.namelist()
    if DESCRIPTION not in names:
        if any(n.endswith("data.pkl") for n in names):
            raise _Refused("was written by torch.save: tinytape reads its own format only (a zip of .npy "
                           "arrays and a JSON description) and never unpickles. " + TORCH_HINT)
        if names and all(n.endswith(".npy") for n in names):
            raise _Refused("is an .npz archive of arrays without tinytape's description (tinytape.json): "
                           "read it as {k: tinytape.from_numpy(v) for k, v in np.load(path).items()}")
        raise _Refused(f"is a zip archive but not a file written by tinytape.save (no {DESCRIPTION} in it)")
    info = z.getinfo(DESCRIPTION)
    if info.file_size > _MAX_JSON:
        raise _Refused(f"is damaged: its {DESCRIPTION} is {info.file_size} bytes")
    try:
        d = json.loads(z.read(DESCRIPTION).decode("utf-8"), parse_constant=_no_constant)
    except ValueError as e:                             # (UnicodeDecodeError, JSONDecodeError, NaN)
        raise _Refused(f"is damaged: its {DESCRIPTION} is not valid JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise _Refused(f"is not a file written by tinytape.save ({DESCRIPTION} does not say format 'tinytape')")
    if d.get("version") != VERSION:
        raise _Refused(f"is of format version {d.get('version')!r}; this tinytape reads version {VERSION}")
    _check(type(d.get("storages")) is list and type(d.get("tensors")) is list and "object" in d,
           "the description lacks storages, tensors or object")
    expected = {DESCRIPTION} | {f"{k}.npy" for k in range(len(d["storages"]))}
    _check(set(names) == expected and len(names) == len(expected),
           f"its members are {sorted(names)}, not {DESCRIPTION} and {len(d['storages'])} storages")
    storages = [_read_storage(z, f"{k}.npy", s) for k, s in enumerate(d["storages"])]
    for r in d["tensors"]:
        _check_record(r, storages)
    return d, storages


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _check(ok, what):
    if not ok:
        raise _Refused(f"is damaged: {what}")


def _ints(v, low=None):
    return type(v) is list and all(type(n) is int and (low is None or n >= low) for n in v)


def _read_storage(z, member, spec):
    """One .npy member, checked against its description before its data is read (allow_pickle=False)."""
    _check(type(spec) is dict and spec.get("dtype") in _DTYPES and _ints(spec.get("shape"), 0),
           f"the description of {member} is {spec!r}")
    want = _DTYPES[spec["dtype"]]
    with z.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        _check(version in ((1, 0), (2, 0)), f"{member} is not an .npy array of version 1 or 2")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fp)
        _check(dtype.kind == want.kind and dtype.itemsize == want.itemsize and not dtype.hasobject
               and dtype.fields is None and list(shape) == spec["shape"],
               f"{member} holds {dtype} {list(shape)}, its description says {spec['dtype']} {spec['shape']}")
        count = math.prod(shape)
        _check(z.getinfo(member).file_size - fp.tell() == count * dtype.itemsize,
               f"{member} does not hold {count} elements of {dtype}")
        a = np.empty(count, dtype)
        n = fp.readinto(memoryview(a.view(np.uint8)))
        _check(n == count * dtype.itemsize and not fp.read(1), f"{member} is truncated")
    if dtype != want:                                   # another byte order
        a = a.astype(want)
    if fortran:
        a = np.ascontiguousarray(a.reshape(shape[::-1]).T).reshape(-1)
    return a.reshape(shape)


def _check_record(r, storages):
    keys = {"storage", "offset", "shape", "stride", "requires_grad", "class"}
    _check(type(r) is dict and set(r) <= keys and type(r.get("storage")) is int
           and 0 <= r["storage"] < len(storages) and type(r.get("offset")) is int and r["offset"] >= 0
           and _ints(r.get("shape"), 0) and _ints(r.get("stride")) and len(r["stride"]) == len(r["shape"])
           and type(r.get("requires_grad", False)) is bool and r.get("class", "Tensor") in ("Tensor", "Parameter",
                                                                                        "ndarray"),
           f"a tensor's description is {r!r}")
    storage = storages[r["storage"]]
    if r.get("requires_grad"):
        _check(storage.dtype.kind == "f", f"a {storage.dtype} tensor cannot require grad")
    size, offset = storage.size, r["offset"]
    if 0 in r["shape"]:
        _check(offset <= size, f"a tensor's offset {offset} is past its storage of {size} elements")
        return
    low = offset + sum((n - 1) * s for n, s in zip(r["shape"], r["stride"]) if s < 0)
    high = offset + sum((n - 1) * s for n, s in zip(r["shape"], r["stride"]) if s > 0)
    _check(low >= 0 and high < size, f"a tensor reads elements {low}..{high} of a storage of {size}")


def _build(d, storages):
    """The object, from a checked description: tensors first (sharing their storage), then the rest."""
    flats = [a.reshape(-1) for a in storages]
    versions = [[0] for _ in storages]                  # tensors on one storage share a version counter
    tensors = []
    for r in d["tensors"]:
        k = r["storage"]
        storage, flat = storages[k], flats[k]
        if r["offset"] == 0 and r["shape"] == list(storage.shape) and r["stride"] == _c_strides(storage.shape):
            a = storage
        else:
            item = storage.itemsize
            a = np.lib.stride_tricks.as_strided(flat[r["offset"]:], tuple(r["shape"]),
                                                tuple(s * item for s in r["stride"]))
        kind = r.get("class", "Tensor")
        if kind == "ndarray":
            tensors.append(a)
            continue
        t = _make(a)
        t._ver = versions[k]
        if r.get("requires_grad"):
            t.requires_grad_(True)
        tensors.append(_parameter(t) if kind == "Parameter" else t)
    try:
        return _value(d["object"], tensors)
    except (KeyError, IndexError, TypeError, ValueError, RecursionError) as e:
        raise _Refused(f"is damaged: its object description does not decode ({type(e).__name__}: {e})") from None


def _parameter(t):
    """tinytape.nn.Parameter(t) where tinytape.nn exists, else the tensor itself."""
    try:
        from .nn import Parameter
    except ImportError:
        return t
    return Parameter(t, requires_grad=t._rg)


def _value(v, tensors):
    if v is None or type(v) in (bool, int, float, str):
        return v
    if type(v) is not dict or len(v) != 1:
        raise ValueError(f"{v!r} is not a value")
    (kind, x), = v.items()
    if kind == "tensor":
        if type(x) is not int or x < 0:
            raise ValueError(f"tensor {x!r}")
        return tensors[x]
    if kind == "float":
        if x not in ("nan", "inf", "-inf"):
            raise ValueError(f"float {x!r}")
        return float(x)
    if kind in ("list", "tuple") and type(x) is list:
        items = [_value(i, tensors) for i in x]
        return items if kind == "list" else tuple(items)
    if kind in ("dict", "OrderedDict") and type(x) is list:
        out = OrderedDict() if kind == "OrderedDict" else {}
        for pair in x:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError(f"dict entry {pair!r}")
            out[_value(pair[0], tensors)] = _value(pair[1], tensors)
        return out
    raise ValueError(f"{kind!r} is not a kind of value")
