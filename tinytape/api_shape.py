"""The torch front of reductions, shape ops and indexing: dims, torch's error texts and names,
and which results are views (they share memory and version with their input). The math is in
ops.py.
"""
import builtins
from collections import namedtuple

import numpy as np

from . import dtypes, errors, indexing, ops
from .api import record, view
from .quiet import quiet
from .shapes import norm_dim, norm_dims
from .creation import tensor
from .tensor import Tensor, _make


def _return_type(name, fields=("values", "indices")):
    """torch.return_types.max and friends: named tuples, not tensors (so `x - x.max(1)` is a
    TypeError that names the type, as in torch, instead of a silently wrong broadcast)."""
    cls = namedtuple(name, fields)
    cls.__qualname__ = cls.__name__ = f"tinytape.return_types.{name}"
    cls.__module__ = "tinytape.return_types"
    cls.__repr__ = lambda self: f"tinytape.return_types.{name}(\n" + ",\n".join(
        f"{f}={v!r}" for f, v in zip(fields, self)) + ")"
    return cls


max_result, min_result = _return_type("max"), _return_type("min")
histogram_result = _return_type("histogram", ("hist", "bin_edges"))


# ---------------------------------------------------------------------------------- reductions
def sum(x, dim=None, keepdim=False):
    data = x._data
    return record(*ops.sum(data, norm_dims(dim, data.ndim), keepdim), ops.sum,
                  "SumBackward0" if dim is None else "SumBackward1", (x,))


def mean(x, dim=None, keepdim=False):
    data = x._data
    if data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {errors.name(data.dtype)}")
    with quiet():                                       # an empty mean is nan
        return record(*ops.mean(data, norm_dims(dim, data.ndim), keepdim), ops.mean,
                      "MeanBackward0" if dim is None else "MeanBackward1", (x,))


def var(x, dim=None, correction=1, keepdim=False, prim=ops.var, name="VarBackward0"):
    data = x._data
    axes = norm_dims(dim, data.ndim)
    if data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    with quiet():                                       # N <= correction: inf or nan, as torch
        return record(*prim(data, axes, correction, keepdim), prim, name, (x,))


def std(x, dim=None, correction=1, keepdim=False):
    return var(x, dim, correction, keepdim, ops.std, "StdBackward0")


def _extreme(x, dim, keepdim, name):
    data = x._data
    if dim is None:                                     # over everything: ties share g evenly
        if data.size == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               f"Specify the reduction dim with the 'dim' argument.")
        prim = ops.max_all if name == "max" else ops.min_all
        return record(*prim(data), prim, name.capitalize() + "Backward1", (x,))
    result = max_result if name == "max" else min_result
    axis = norm_dim(dim, data.ndim)
    if axis is None:                                    # a 0-d tensor: itself, index 0
        return result(record(*ops.clone(data), ops.clone, "CloneBackward0", (x,)), _make(np.zeros((), np.int64)))
    if data.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    prim = ops.max_dim if name == "max" else ops.min_dim
    (values, indices), rule = prim(data, axis, keepdim)
    return result(record(values, rule, prim, name.capitalize() + "Backward0", (x,)), _make(indices))


def max(x, dim=None, keepdim=False):
    return _extreme(x, dim, keepdim, "max")


def min(x, dim=None, keepdim=False):
    return _extreme(x, dim, keepdim, "min")


def argmax(x, dim=None, keepdim=False, fn=np.argmax):
    data = x._data
    if dim is None:
        return _make(np.asarray(fn(data), np.int64))
    return _make(fn(data, axis=norm_dim(dim, data.ndim), keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim=False):
    return argmax(x, dim, keepdim, np.argmin)


# ---------------------------------------------------------------------------------- shape
def reshape(x, shape, name="ViewBackward0", strict=False):
    """x with another shape (one -1 inferred): a view when numpy can make one; `view` (strict)
    refuses, as torch, where it cannot."""
    data = x._data
    shape = tuple(map(builtins.int, shape))
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    try:
        out, rule = ops.reshape(data, shape)
    except ValueError:
        if data.size == 0 and -1 in shape:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                               f"unspecified dimension size -1 can be any value and is ambiguous") from None
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {data.size}") from None
    if out.size and not np.may_share_memory(out, data):  # numpy copied: not a view
        if strict:
            raise RuntimeError(errors.VIEW_STRIDES)
        return record(out, rule, ops.reshape, "UnsafeViewBackward0", (x,))
    new = out.shape
    return view(out, rule, ops.reshape, name, x, lambda a: a.reshape(new))


def flatten(x, start_dim=0, end_dim=-1):
    shape = x._data.shape
    if not shape:
        return reshape(x, (1,))
    s, e = norm_dim(start_dim, len(shape)), norm_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(x, shape[:s] + (builtins.int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


def permute(x, dims, name="PermuteBackward0"):
    ndim = x._data.ndim
    axes = tuple(norm_dim(d, ndim) for d in dims) if ndim else ()
    if len(axes) != ndim or sorted(axes) != list(range(ndim)):
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {ndim} "
                           f"is not equal to len(dims) = {len(dims)}" if len(axes) != ndim else
                           "permute(): duplicate dims are not allowed.")
    return view(*ops.permute(x._data, axes), ops.permute, name, x, lambda a: a.transpose(axes))


def transpose(x, dim0, dim1, name="TransposeBackward0"):
    ndim = x._data.ndim
    a, b = norm_dim(dim0, ndim), norm_dim(dim1, ndim)
    axes = list(range(ndim))
    if a is not None:
        axes[a], axes[b] = axes[b], axes[a]
    return permute(x, axes, name)


def t(x):
    if x._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x._data.ndim}D")
    return permute(x, tuple(range(x._data.ndim))[::-1], "TBackward0")


def unsqueeze(x, dim):
    ndim = x._data.ndim
    if not -ndim - 1 <= dim <= ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim - 1}, {ndim}], but got {dim})")
    axis = dim % (ndim + 1)
    return reshape(x, x._data.shape[:axis] + (1,) + x._data.shape[axis:], "UnsqueezeBackward0")


def squeeze(x, dim=None):
    shape = x._data.shape
    if dim is None:
        return reshape(x, tuple(s for s in shape if s != 1), "SqueezeBackward0")
    axes = norm_dims(dim, len(shape)) if dim != () else ()     # squeeze(()) squeezes nothing
    return reshape(x, tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1)), "SqueezeBackward1")


def expand(x, shape):
    data = x._data
    shape = tuple(s if s != -1 else data.shape[i - len(shape) + data.ndim] for i, s in enumerate(shape))
    try:
        out, rule = ops.expand(data, shape)
    except ValueError:
        raise errors.expand_error(data.shape, shape, errors.name(data.dtype)) from None
    return view(out, rule, ops.expand, "ExpandBackward0", x, lambda a: np.broadcast_to(a, shape))


def _tensors(ts):
    return [t if isinstance(t, Tensor) else tensor(t) for t in ts]


def _same_dtype(ts):
    """The arrays in their common dtype by torch's promotion (int64 with float32 is float32)."""
    dt = ts[0]._data.dtype
    for t in ts[1:]:
        if t._data.dtype != dt:
            dt = dtypes.result_type(dt, 1, t._data.dtype, 1)
    return [t._data if t._data.dtype == dt else t._data.astype(dt) for t in ts]


def cat(tensors, dim=0):
    ts = _tensors(tensors)
    if not ts:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    axis = norm_dim(dim, ts[0]._data.ndim)
    if axis is None:
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    try:
        return record(*ops.cat(_same_dtype(ts), axis), ops.cat, "CatBackward0", tuple(ts))
    except ValueError:
        raise _cat_error(ts, axis) from None


def _cat_error(ts, axis):
    first = ts[0]._data.shape
    for k, t in enumerate(ts[1:], 1):
        shape = t._data.shape
        if len(shape) != len(first):
            return RuntimeError(f"Tensors must have same number of dimensions: got {len(first)} and {len(shape)}")
        for d, (m, n) in enumerate(zip(first, shape)):
            if d != axis and m != n:
                return RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size "
                                    f"{m} but got size {n} for tensor number {k} in the list.")
    return RuntimeError(f"Sizes of tensors must match except in dimension {axis}")


def stack(tensors, dim=0):
    ts = _tensors(tensors)
    if not ts:
        raise RuntimeError("stack expects a non-empty TensorList")
    ndim = ts[0]._data.ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    try:
        return record(*ops.stack(_same_dtype(ts), dim % ndim), ops.stack, "StackBackward0", tuple(ts))
    except ValueError:
        k = next(k for k, t in enumerate(ts) if t._data.shape != ts[0]._data.shape)
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ts[0]._data.shape)} at "
                           f"entry 0 and {list(ts[k]._data.shape)} at entry {k}") from None


# ---------------------------------------------------------------------------------- indexing
def getitem(x, index):
    """x[index]: ints, slices and None give a view (SelectBackward0, SliceBackward0); index
    arrays and masks give a copy whose backward scatter-adds repeated indices (IndexBackward0)."""
    data = x._data
    idx = indexing.parse(index, data.ndim)
    prim = ops.basic_index if idx.basic else ops.gather
    try:
        out, rule = prim(data, idx)
    except IndexError as e:
        raise indexing.index_error(e, data, index) from None
    if not idx.basic:
        return record(out, rule, prim, "IndexBackward0", (x,))
    parts = idx.rest if type(idx.rest) is tuple else (idx.rest,)
    name = "SelectBackward0" if builtins.any(type(p) is builtins.int for p in parts) else \
        "UnsqueezeBackward0" if builtins.all(p is None for p in parts) else "SliceBackward0"
    return view(out, rule, prim, name, x, idx.take)
