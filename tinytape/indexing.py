"""torch's index rules, translated to numpy's: `parse(index, ndim)` gives an `Index` that reads
(`take`) and writes (`put`) the indexed places of an array, and says whether the result is a view
(`basic`: ints, slices, None, Ellipsis) or a copy (index arrays, masks).

Where torch reads an index differently from numpy:
- tensors, ranges and lists become integer (or bool) arrays; a 0-d integer tensor is an integer;
- with index arrays, integers select first and the rest indexes what is left: numpy counts an int
  beside an index array as one more index array and moves the indexed dims to the front, so
  x[0, :, [1, 2]] would be (2, 3) where torch gives (3, 2);
- an Ellipsis that stands for no dim is no separator (x[None, [0], ..., [1]] on 2-D keeps None first).
"""
import builtins

import numpy as np

from .errors import expand_error


class Index:
    """An index in torch's reading: `take(a)` is a[index], `put(a, v)` is a[index] = v."""
    __slots__ = ("first", "rest", "basic")

    def __init__(self, first, rest, basic):
        self.first, self.rest, self.basic = first, rest, basic

    def take(self, a):
        return a[self.rest] if self.first is None else a[self.first][self.rest]

    def put(self, a, v):
        (a if self.first is None else a[self.first])[self.rest] = v


def _part(i):
    t = type(i)
    if t is slice and i.step is not None and i.step < 0:
        raise ValueError("step must be greater than zero")    # torch has no negative steps (numpy would reverse)
    if t is int or t is slice or i is None or i is Ellipsis:
        return i
    if hasattr(i, "_data"):                               # a tensor: copied, so that writing it
        i = i._data                                       # later cannot change a recorded index
        if i.ndim == 0 and i.dtype.kind in "iu":
            return int(i)
        i = i.copy()
    elif isinstance(i, range):
        return np.arange(i.start, i.stop, i.step)
    elif isinstance(i, list):
        i = np.asarray([int(e._data) if hasattr(e, "_data") else e for e in i])
        if i.size == 0:
            i = i.astype(np.int64)
    if isinstance(i, np.ndarray) and i.dtype.kind not in "iub":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if isinstance(i, (float, np.floating)):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                         "Variables are valid indices (got float)")
    return i


def _is_int(i):
    return (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))) or \
        (isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu")


def _has_ellipsis(idx):
    return builtins.any(i is Ellipsis for i in idx)


def parse(index, ndim):
    """A torch index as an Index."""
    if type(index) is not tuple:                          # one index (C[Xb], Y[ix], x[0], x[1:]):
        i = _part(index)                                  # nothing to reorder
        if type(i) is np.ndarray:
            return Index(None, i, False)
        return Index(None, (i, Ellipsis) if i is not Ellipsis else (i,), True)
    idx = tuple(_part(i) for i in index)
    if not builtins.any(isinstance(i, np.ndarray) for i in idx):
        # a view; a trailing Ellipsis makes numpy return a 0-d array, not a scalar, for x[0] of 1-D
        return Index(None, idx if _has_ellipsis(idx) else idx + (Ellipsis,), True)
    if _has_ellipsis(idx) and ndim == builtins.sum(
            i.ndim if isinstance(i, np.ndarray) and i.dtype.kind == "b" else 1
            for i in idx if i is not None and i is not Ellipsis):
        idx = tuple(i for i in idx if i is not Ellipsis)
    if not builtins.any(_is_int(i) for i in idx):
        return Index(None, idx, False)
    first = []
    for i in idx:
        if _is_int(i):
            first.append(int(i))
        elif i is Ellipsis:
            first.append(i)
        elif isinstance(i, np.ndarray) and i.dtype.kind == "b":
            first.extend([slice(None)] * i.ndim)          # a mask consumes its dims (0-d: none)
        elif i is not None:
            first.append(slice(None))
    return Index(tuple(first), tuple(i for i in idx if not _is_int(i)), False)


def selects_a_view(index, shape):
    """Whether torch's x[index] = v first takes a view of x (an int, a None, a slice that is not the
    whole dim): then x is written through that view, and for a leaf that requires grad torch says
    "a view of a leaf Variable". Ellipsis, whole slices and index arrays alone write x itself."""
    idx = tuple(_part(i) for i in index) if type(index) is tuple else (_part(index),)
    width = [0 if i is None or i is Ellipsis else i.ndim if isinstance(i, np.ndarray) and i.dtype.kind == "b"
             else 1 for i in idx]
    d = 0
    for i, w in zip(idx, width):
        if i is Ellipsis:
            d += len(shape) - builtins.sum(width)
            continue
        if i is None or isinstance(i, (bool, np.bool_)) or _is_int(i):
            return True
        if type(i) is slice:                              # torch's test: start 0, step 1, stop past the end
            if i.start not in (None, 0) or i.step not in (None, 1) or (
                    i.stop is not None and (d >= len(shape) or i.stop < shape[d])):
                return True
        d += w
    return False


def take(data, index):
    """data[index] in torch's reading, numpy's errors in torch's words: (Index, result)."""
    idx = parse(index, data.ndim)
    try:
        return idx, idx.take(data)
    except IndexError as e:
        raise index_error(e, data, index) from None


def put(data, index, v):
    """data[index] = v in torch's reading (into data itself), numpy's errors in torch's words."""
    idx = parse(index, data.ndim)
    try:
        target = idx.take(data)
    except IndexError as e:
        raise index_error(e, data, index) from None
    if np.shape(v) != target.shape:
        try:
            np.broadcast_shapes(np.shape(v), target.shape)
        except ValueError:
            raise expand_error(np.shape(v), target.shape) from None
    idx.put(data, v)
    return idx


def index_error(e, data, index):
    """numpy's IndexError in torch's words ("axis" is a "dimension"; too many indices; masks)."""
    msg = str(e)
    if msg.startswith("too many indices"):
        return IndexError(f"too many indices for tensor of dimension {data.ndim}")
    if msg.startswith("boolean index did not match"):
        return IndexError(_mask_error(data.shape, index) or msg.replace("axis", "dimension"))
    return IndexError(msg.replace("axis", "dimension"))


def _mask_error(shape, index):
    """torch's words for a bool mask that does not fit the dims it indexes. torch applies integer
    indices first, so it names the shape that is left (a None there is a dim of size 1)."""
    parts = [_part(p) for p in (index if isinstance(index, tuple) else (index,))]
    width = [p.ndim if isinstance(p, np.ndarray) and p.dtype.kind == "b" else 0 if p is None or p is Ellipsis
             else 1 for p in parts]
    rest, masks, d = [], [], 0
    for p, w in zip(parts, width):
        if p is Ellipsis:
            k = len(shape) - builtins.sum(width)
            rest += shape[d:d + k]
            d += k
        elif p is None:
            rest.append(1)
        elif _is_int(p):
            d += 1                                        # selected away before the mask is applied
        else:
            if w and isinstance(p, np.ndarray) and p.dtype.kind == "b":
                masks.append((p, len(rest)))
            rest += shape[d:d + w]
            d += w
    rest += shape[d:]                                     # dims after the last index are kept whole
    for mask, at in masks:
        for j, m in enumerate(mask.shape):
            if at + j >= len(rest) or rest[at + j] != m:
                return (f"The shape of the mask {list(mask.shape)} at index {j} does not match the shape of the "
                        f"indexed tensor {list(rest)} at index {at + j}")
    return None
