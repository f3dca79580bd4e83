"""Making tensors: torch.tensor, zeros, ones, full, arange, linspace, the *_like forms, and
histogram. Python floats become the default float dtype (float32), ints int64; `device=` takes
the CPU only, as everywhere.
"""
import numpy as np

from . import dtypes, errors
from .tensor import Tensor, _make, _shape_arg, _device


def _array(data, dtype):
    """torch.tensor's reading of data: Python floats become float32, ints int64, arrays keep dtype."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.array(data, dtype=dtype)                  # a copy, as torch.tensor copies
    else:
        try:
            try:
                arr = np.array(data, dtype=dtype)
            except TypeError:                              # 0-d tensors in a list: numpy asks their len()
                arr = np.array(_unwrap(data), dtype=dtype)
        except ValueError as e:
            raise ValueError(_ragged(data) or f"tensor data is ragged or not numeric: {e}") from None
        if dtype is None and arr.dtype == np.float64 and not _has_float64(data):
            arr = arr.astype(dtypes.default_float())         # Python floats: float32; a float64 element wins
    if arr.dtype.kind == "O":
        raise TypeError(f"tensor data must be numbers, got objects of type "
                        f"{type(arr.flat[0]).__name__ if arr.size else 'object'}")
    return arr


def _unwrap(data):
    """Nested lists with each tensor replaced by its array."""
    if isinstance(data, (list, tuple)):
        return [_unwrap(e) for e in data]
    return data._data if isinstance(data, Tensor) else data


def _has_float64(data):
    """Whether nested lists hold a float64 element (np.float64, a float64 array or tensor): torch then
    makes the whole tensor float64, as it promotes the elements' dtypes."""
    if isinstance(data, (list, tuple)):
        return any(_has_float64(e) for e in data)
    dt = getattr(data, "dtype", None)
    if isinstance(dt, dtypes.dtype):                              # a tensor's dtype: tinytape.float64
        dt = dt.dtype
    return isinstance(dt, np.dtype) and dt == dtypes.F64        # (np.dtype(None) is float64)


def _ragged(data):
    """torch's words for nested lists of uneven lengths: the shape is read along the first
    elements, and the first list of another length is named (None if that is not the problem)."""
    shape, d = [], data
    while isinstance(d, (list, tuple)):
        shape.append(len(d))
        d = d[0] if len(d) else None

    def walk(seq, dim):
        if dim >= len(shape):
            return None
        if len(seq) != shape[dim]:
            return f"expected sequence of length {shape[dim]} at dim {dim} (got {len(seq)})"
        for e in seq:
            if isinstance(e, (list, tuple)):
                found = walk(e, dim + 1)
                if found:
                    return found
        return None
    return walk(data, 0) if isinstance(data, (list, tuple)) else None


def _leaf(arr, requires_grad):
    t = _make(arr)
    if requires_grad and arr.dtype.kind != "f":          # a factory's words differ from requires_grad_'s
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf tensor holding a copy of `data` (a number, nested lists, an array or a tensor)."""
    _device(device)
    if dtype is not None:
        dtype = dtypes.to_numpy(dtype)
    arr = _array(data, dtype)
    if arr.dtype.kind in "iu" and arr.dtype != dtypes.I64 and dtype is None and not isinstance(data, (np.ndarray, Tensor)):
        arr = arr.astype(dtypes.I64)
    dtypes.to_numpy(arr.dtype)
    return _leaf(arr, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like tensor, but shares the memory of a numpy array or tensor when no conversion is needed."""
    _device(device)
    if isinstance(data, Tensor) and (dtype is None or data._data.dtype == np.dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        dtypes.to_numpy(data.dtype)
        return _make(data)
    return tensor(data, dtype=dtype)


def from_numpy(array):
    """A tensor sharing `array`'s memory."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.to_numpy(array.dtype)
    return _make(array)


def _factory(fill, shape, dtype, device, requires_grad):
    _device(device)
    dtype = dtypes.default_float() if dtype is None else dtypes.to_numpy(dtype)
    shape = tuple(int(s) for s in _shape_arg(shape))
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(shape)}: {list(shape)}")
    return _leaf(fill(shape, dtype=dtype), requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _factory(np.zeros, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _factory(np.ones, shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return _factory(np.zeros, shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = dtypes.BOOL
    elif dtype is None and isinstance(fill_value, (int, np.integer)):
        dtype = dtypes.I64
    return _factory(lambda s, dtype: np.full(s, fill_value, dtype=dtype), (shape,), dtype, device, requires_grad)


def _like(fn, t, dtype, device, requires_grad, *args):
    a = t._data if isinstance(t, Tensor) else np.asarray(t)
    return fn(*((a.shape,) + args), dtype=a.dtype if dtype is None else dtype, device=device,
              requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return _like(empty, input, dtype, device, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return _like(full, input, dtype, device, requires_grad, fill_value)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    _device(device)
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(dtypes.to_numpy(dtype))
    elif arr.dtype.kind == "f" or any(isinstance(v, float) for v in (start, end, step)):
        arr = arr.astype(dtypes.default_float())
    else:
        arr = arr.astype(dtypes.I64)
    return _leaf(arr, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """`steps` values from start to end, evenly spaced, as torch computes them: the first half
    counted up from start, the second half down from end (so both ends are exact)."""
    _device(device)
    dtype = dtypes.default_float() if dtype is None else dtypes.to_numpy(dtype)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if steps == 1:
        return _leaf(np.full(1, start, dtype=dtype), requires_grad)
    work = np.float64 if dtype.kind != "f" else dtype
    step = (np.asarray(end, work) - np.asarray(start, work)) / (steps - 1)
    i = np.arange(steps)
    half = steps // 2
    out = np.where(i < half, np.asarray(start, work) + step * i.astype(work),
                   np.asarray(end, work) - step * (steps - 1 - i).astype(work))
    return _leaf(out.astype(dtype), requires_grad)


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """(hist, bin_edges) of a float tensor, as torch.histogram: equal-width bins between the
    smallest and largest value (or `range`), the last bin closed."""
    from .api_shape import histogram_result
    a = input._data
    if a.dtype.kind != "f":
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, "
                           f"but got input {errors.name(a.dtype)} and bins Float")
    w = None if weight is None else np.asarray(weight)
    if isinstance(bins, Tensor):
        edges = bins._data
    else:
        lo, hi = range if range is not None else ((a.min(), a.max()) if a.size else (0.0, 0.0))
        lo, hi = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)  # torch widens an empty span as numpy does
        edges = linspace(float(lo), float(hi), int(bins) + 1, dtype=a.dtype)._data
    hist, _ = np.histogram(a, bins=edges.astype(np.float64), weights=w, density=density)
    return histogram_result(_make(hist.astype(a.dtype)), _make(edges.astype(a.dtype)))
