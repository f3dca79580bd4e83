"""The torch front of the later lectures' ops: checks, promotion, dims, torch's error texts and
grad_fn names, then the primitive of more_ops.py or fused.py, then the record (as api.py and
api_shape.py do for the lecture's ops). Plus the ops that have no gradient: `//`, `& | ^ ~`,
all/any, eye.
"""
import builtins

import numpy as np

from . import api_shape, dtypes, errors, fused, indexing, more_ops, ops
from .api import _real, _unary, binary, cast, operands, record, view
from .api_shape import _return_type
from .quiet import quiet
from .shapes import norm_dim, norm_dims
from .tensor import Tensor, _make

topk_result, sort_result = _return_type("topk"), _return_type("sort")

# ---------------------------------------------------------------------------------- elementwise
sin = _unary(more_ops.sin, "SinBackward0")
cos = _unary(more_ops.cos, "CosBackward0")
rsqrt = _unary(more_ops.rsqrt, "RsqrtBackward0")
log1p = _unary(more_ops.log1p, "Log1PBackward0")
erf = _unary(more_ops.erf, "ErfBackward0")


def silu(x):
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f'"silu_cpu" not implemented for \'{errors.name(x._data.dtype)}\'')
    with quiet():
        return record(*more_ops.silu(x._data), more_ops.silu, "SiluBackward0", (x,))


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f'"GeluKernelImpl" not implemented for \'{errors.name(x._data.dtype)}\'')
    with quiet():
        return record(*more_ops.gelu(x._data, approximate), more_ops.gelu, "GeluBackward0", (x,))


def _both_tensors(name, a, b):
    for k, v in ((1, a), (2, b)):
        if not isinstance(v, Tensor):
            arg = "input" if k == 1 else "other"
            raise TypeError(f"{name}(): argument '{arg}' (position {k}) must be Tensor, not {type(v).__name__}")


def maximum(input, other, prim=more_ops.maximum, name="maximum"):
    _both_tensors(name, input, other)
    ta, tb, x, y = operands(input, other)
    return record(*binary(prim, x, y), prim, name.capitalize() + "Backward0", (ta, tb))


def minimum(input, other):
    return maximum(input, other, more_ops.minimum, "minimum")


def max(input, dim=None, keepdim=False):
    """torch.max(x), torch.max(x, dim) (values and indices) or torch.max(x, other) (elementwise)."""
    return maximum(input, dim) if isinstance(dim, Tensor) else api_shape.max(input, dim, keepdim)


def min(input, dim=None, keepdim=False):
    return minimum(input, dim) if isinstance(dim, Tensor) else api_shape.min(input, dim, keepdim)


def _no_zero_divisor(x, y):
    if np.result_type(x, y).kind in "iub" and not np.all(y):
        raise RuntimeError("ZeroDivisionError")


def remainder(a, b):
    """a % b with the divisor's sign, as Python's % and torch's (C's fmod takes the dividend's)."""
    ta, tb, x, y = operands(a, b)
    _no_zero_divisor(x, y)
    with quiet():
        out, rule = binary(more_ops.remainder, x, y)
    if ta is None:                                      # number % tensor: torch has no derivative
        rule = _NotImplemented("remainder")
        return record(out, rule, rule, "NotImplemented", (ta, tb))
    return record(out, rule, more_ops.remainder, "RemainderBackward0", (ta, tb))


class _NotImplemented:
    """A node for an op torch records without a derivative (floor_divide): backward through it
    raises torch's error."""
    saves, saved_args, saves_out = (), (), False

    def __init__(self, op):
        self.op = op

    def __call__(self, g):
        raise RuntimeError(f"derivative for aten::{self.op} is not implemented")


def floor_divide(a, b):
    """a // b, rounded down (towards -inf, as Python's // and torch's). torch records it without
    a derivative: a backward through it raises."""
    ta, tb, x, y = operands(a, b)
    _no_zero_divisor(x, y)
    with quiet():
        try:
            out = np.floor_divide(x, y)
        except ValueError:
            raise errors.broadcast_error(x, y) from None
    rule = _NotImplemented("floor_divide")
    return record(out, rule, rule, "NotImplemented", (ta, tb))


# ---------------------------------------------------------------------------------- bitwise, logical
def _bitwise(a, b, ufunc, name):
    ta, tb, x, y = operands(a, b)
    for v, t in ((x, ta), (y, tb)):
        if np.result_type(v).kind == "f":
            dt = t._data.dtype if t is not None and t._data.dtype.kind == "f" else dtypes.default_float()
            raise NotImplementedError(f'"{name}_cpu" not implemented for \'{errors.name(dt)}\'')
    try:
        return _make(np.asarray(ufunc(x, y)))
    except ValueError:
        raise errors.broadcast_error(x, y) from None


def bitwise_and(a, b): return _bitwise(a, b, np.bitwise_and, "bitwise_and")
def bitwise_or(a, b): return _bitwise(a, b, np.bitwise_or, "bitwise_or")
def bitwise_xor(a, b): return _bitwise(a, b, np.bitwise_xor, "bitwise_xor")


def bitwise_not(x):
    if x._data.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return _make(np.invert(x._data))


def _logical(ufunc):
    def op(a, b=None):
        x = np.asarray(a)
        return _make(ufunc(x) if b is None else ufunc(x, np.asarray(b)))
    return op


logical_and, logical_or, logical_xor = _logical(np.logical_and), _logical(np.logical_or), _logical(np.logical_xor)
logical_not = _logical(np.logical_not)


def all(input, dim=None, keepdim=False, fn=np.all):
    data = np.asarray(input)
    out = fn(data, axis=norm_dims(dim, data.ndim), keepdims=keepdim)
    return _make(np.asarray(out, np.uint8 if data.dtype == np.uint8 else np.bool_))


def any(input, dim=None, keepdim=False):
    return all(input, dim, keepdim, np.any)


# ---------------------------------------------------------------------------------- shape
def _triangle(prim, name, x, diagonal):
    if x._data.ndim < 2:
        raise RuntimeError(f"{prim.__name__}: input tensor must have at least 2 dimensions")
    return record(*prim(x._data, builtins.int(diagonal)), prim, name, (x,))


def tril(input, diagonal=0): return _triangle(more_ops.tril, "TrilBackward0", input, diagonal)
def triu(input, diagonal=0): return _triangle(more_ops.triu, "TriuBackward0", input, diagonal)


def masked_fill(input, mask, value):
    """value where mask, input elsewhere, out of place (the mask may broadcast input, as torch's)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {dtypes.C_NAMES.get(m.dtype, m.dtype)}")
    tv = value if isinstance(value, Tensor) else None
    if tv is not None and tv._data.ndim:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                           f"{tv._data.ndim} dimension(s).")
    data = input._data
    v = (tv._data if tv is not None else np.asarray(value)).astype(data.dtype)
    try:
        out, rule = ops.where(m.copy(), v, data)       # the rule keeps the mask: a copy, not the caller's
    except ValueError:
        raise errors.broadcast_error(m, data) from None
    return record(out, rule, ops.where, "MaskedFillBackward0", (None, tv, input))


def split(tensor, split_size_or_sections, dim=0):
    """Views of consecutive pieces along dim: of split_size each (the last smaller), or of the
    given sizes."""
    data = tensor._data
    if data.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    axis = norm_dim(dim, data.ndim)
    n = data.shape[axis]
    if isinstance(split_size_or_sections, (builtins.int, np.integer)):
        size, name = builtins.int(split_size_or_sections), "SplitBackward0"
        if size < 0 or (size == 0 and n):
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
                               if size == 0 else f"split expects split_size be non-negative, but got split_size={size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else []) if size else [0]
    else:
        sizes, name = [builtins.int(s) for s in split_size_or_sections], "SplitWithSizesBackward0"
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {axis}), but got split_sizes={sizes}")
    pieces, start = [], 0
    for s in sizes:
        idx = indexing.parse((slice(None),) * axis + (slice(start, start + s),), data.ndim)
        pieces.append(view(*ops.basic_index(data, idx), ops.basic_index, name, tensor, idx.take))
        start += s
    return tuple(pieces)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = input._data.shape[norm_dim(dim, input._data.ndim)] if input._data.ndim else 1
    return split(input, -(-n // chunks), dim)


def repeat(x, sizes):
    sizes = tuple(builtins.int(s) for s in sizes)
    if len(sizes) < x._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    if builtins.any(s < 0 for s in sizes):
        raise RuntimeError(f"Trying to create tensor with negative dimension {builtins.min(sizes)}: {list(sizes)}")
    return record(*more_ops.repeat(x._data, sizes), more_ops.repeat, "RepeatBackward0", (x,))


def roll(input, shifts, dims=None):
    data = input._data
    shifts = (shifts,) if isinstance(shifts, (builtins.int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return record(*more_ops.roll(data, builtins.int(shifts[0]), None), more_ops.roll, "RollBackward0", (input,))
    dims = (dims,) if isinstance(dims, (builtins.int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    axes = tuple(norm_dim(d, data.ndim) or 0 for d in dims)
    shifts = tuple(builtins.int(s) for s in shifts)
    return record(*more_ops.roll(data, shifts, axes if data.ndim else None), more_ops.roll, "RollBackward0", (input,))


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    from .creation import _factory
    return _factory(lambda shape, dtype: np.eye(shape[0], shape[1], dtype=dtype), (n, n if m is None else m),
                    dtype, device, requires_grad)


# ---------------------------------------------------------------------------------- sorting
def _sort_axis(x, dim):
    data = x._data
    return data if data.ndim else data.reshape(1), norm_dim(dim, data.ndim) or 0


def _sorted(x, values_indices, rule, prim, name, result):
    (values, indices), shape = values_indices, x._data.shape
    if not shape:                                       # a 0-d tensor sorts as itself
        values, indices = values.reshape(()), indices.reshape(())
        inner = rule
        rule = lambda g: (inner(np.reshape(g, (1,)))[0].reshape(()),)       # noqa: E731
    return result(record(values, rule, prim, name, (x,)), _make(indices))


def topk(input, k, dim=-1, largest=True, sorted=True):
    data, axis = _sort_axis(input, dim)
    k = builtins.int(k)
    if not 0 <= k <= data.shape[axis]:
        raise RuntimeError("selected index k out of range")
    return _sorted(input, *more_ops.topk(data, k, axis, bool(largest)), more_ops.topk, "TopkBackward0", topk_result)


def sort(input, dim=-1, descending=False, stable=False):
    data, axis = _sort_axis(input, dim)
    return _sorted(input, *more_ops.sort(data, axis, bool(descending)), more_ops.sort, "SortBackward0", sort_result)


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


# ---------------------------------------------------------------------------------- scans and reductions
def _integer_to_long(x, dtype):
    data = x._data
    if dtype is not None:
        return cast(x, dtype)
    return x if data.dtype.kind == "f" or data.dtype == np.int64 else _make(data.astype(np.int64))


def cumsum(input, dim, *, dtype=None):
    x = _integer_to_long(input, dtype)
    data = x._data
    axis = norm_dim(dim, data.ndim)
    if axis is None:                                    # 0-d: itself
        return record(*ops.clone(data), ops.clone, "CumsumBackward0", (x,))
    return record(*more_ops.cumsum(data, axis), more_ops.cumsum, "CumsumBackward0", (x,))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    x = _integer_to_long(input, dtype)
    data = x._data
    if dim is None:
        return record(*more_ops.prod(data, tuple(range(data.ndim)), False), more_ops.prod, "ProdBackward0", (x,))
    axis = norm_dim(dim, data.ndim)
    axes = () if axis is None else (axis,)
    return record(*more_ops.prod(data, axes, keepdim), more_ops.prod, "ProdBackward1", (x,))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """The vector p-norm over dim (all dims by default): 'fro' and 2 are the Euclidean norm."""
    data = input._data
    if data.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {errors.name(data.dtype)}")
    p = 2 if p == "fro" else p
    if isinstance(p, str) or p <= 0:
        raise NotImplementedError(f"tinytape's norm supports p > 0 and 'fro' (got {p!r})")
    with quiet():
        return record(*more_ops.norm(data, float(p), norm_dims(dim, data.ndim), keepdim), more_ops.norm,
                      "LinalgVectorNormBackward0", (input,))


def logsumexp(input, dim, keepdim=False):
    data = _real(input._data)
    with quiet():
        return record(*fused.logsumexp(data, norm_dims(dim, data.ndim), keepdim), fused.logsumexp,
                      "LogsumexpBackward0", (input,))


def amax(input, dim=(), keepdim=False, prim=more_ops.amax, name="amax"):
    data = input._data
    axes = norm_dims(dim, data.ndim)
    for a in axes:
        if data.shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")
    if not axes and data.size == 0 and data.ndim:
        raise IndexError(f"{name}(): Expected reduction dim 0 to have non-zero size.")
    return record(*prim(data, axes, keepdim), prim, name.capitalize() + "Backward0", (input,))


def amin(input, dim=(), keepdim=False):
    return amax(input, dim, keepdim, more_ops.amin, "amin")


__all__ = ["sin", "cos", "rsqrt", "log1p", "erf", "silu", "gelu", "maximum", "minimum", "max", "min", "remainder",
           "floor_divide", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "logical_and", "logical_or",
           "logical_xor", "logical_not", "all", "any", "tril", "triu", "masked_fill", "split", "chunk", "repeat",
           "roll", "eye", "topk", "sort", "argsort", "cumsum", "prod", "norm", "logsumexp", "amax", "amin"]
