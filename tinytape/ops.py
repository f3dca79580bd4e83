"""Every primitive: its forward in numpy and, right under it, its backward rule.

Read it top to bottom like the lecture's exercise 1. A rule gets `g` = dloss/dout and returns
dloss/dinput for each input, written as the lecture writes it (`dprobs = (1.0 / probs) * dlogprobs`),
so that a learner's hand-written numpy and the tape agree to the last bit. Rules:
- never think about broadcasting: the engine sums each gradient back to its input's shape;
- never write into `g` or into a saved array (a gradient may be shared);
- save only what they need, and prefer the output (`exp`, `tanh`): the closure holds numpy arrays,
  never tensors, so a graph has no reference cycles;
- are first order, in raw numpy: there is no double backward.
Conventions are torch's and stand beside the rule they belong to.
"""
import builtins
from collections import namedtuple

import numpy as np

from . import dtypes, tape
from .quiet import quiet as _quiet
from .shapes import broadcast_error, expand_error, norm_dim, norm_dims
from .tensor import Tensor, _make, tensor


def _result(data, name, inputs, backward):
    """Wrap `data` as the op's result; record it on the tape if an input requires grad."""
    out = _make(data)
    if tape._enabled:
        for t in inputs:
            if t is not None and t._rg:
                tape.record(out, name, inputs, backward)
                break
    return out


# ---------------------------------------------------------------------------------- operands
def _constant(v):
    """A non-tensor operand: Python and numpy scalars become weak Python scalars (np.float64 is a
    subclass of float, but numpy would let it promote float32 arrays), the rest becomes an array."""
    t = type(v)
    if t is float or t is int or t is bool:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (list, tuple)):
        return tensor(v).data
    raise TypeError(f"unsupported operand type for a tensor op: {type(v).__name__}")


def _dtype_ndim(t, v):
    if t is not None:
        return t.data.dtype, t.data.ndim
    if isinstance(v, np.ndarray):
        return v.dtype, v.ndim
    return np.result_type(v), None                      # a scalar: weak (None)


def _operands(a, b, wrap=True):
    """(tensor or None, numpy operand) for both sides, promoted with torch's rules (dtypes.py)."""
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    x = a.data if ta is not None else _constant(a)
    y = b.data if tb is not None else _constant(b)
    if ta is not None and tb is not None and x.dtype == y.dtype:
        return ta, tb, x, y                                 # the common case: nothing to promote
    if ta is not None and tb is None and type(y) in (float, int) and x.dtype.kind == "f":
        return ta, tb, x, y                                 # float tensor and a number: the tensor's dtype
    if tb is not None and ta is None and type(x) in (float, int) and y.dtype.kind == "f":
        return ta, tb, x, y
    dt = dtypes.result_type(*_dtype_ndim(ta, x), *_dtype_ndim(tb, y))
    if isinstance(x, np.ndarray) and x.dtype != dt:
        x = x.astype(dt)
    if isinstance(y, np.ndarray) and y.dtype != dt:
        y = y.astype(dt)
    if wrap and dt.kind in "iu":                            # an int scalar wraps into the tensor's
        if type(x) is int:                                  # integer type, as torch's does (numpy
            x = np.array(x).astype(dt)                      # would raise OverflowError)
        if type(y) is int:
            y = np.array(y).astype(dt)
    return ta, tb, x, y


def _is_bool(v):
    """A bool operand (tensor, array or scalar), before promotion turns it into numbers."""
    if isinstance(v, Tensor):
        return v.data.dtype.kind == "b"
    return isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and v.dtype.kind == "b")


def _apply(f, x, y):
    try:
        return f(x, y)
    except ValueError:
        raise broadcast_error(x, y) from None


# ---------------------------------------------------------------------------------- arithmetic
def add(a, b):
    """a + b: both inputs get g unchanged (the engine sums broadcast dims: `db2 = dlogits.sum(0)`)."""
    ta, tb, x, y = _operands(a, b)
    return _result(_apply(np.add, x, y), "add", (ta, tb), lambda g: (g, g))


def sub(a, b):
    """a - b: da = g, db = -g  (lecture: `dbnmeani = (-dbndiff).sum(0)`). Booleans refuse, as torch."""
    if _is_bool(a) or _is_bool(b):
        if _is_bool(a) and _is_bool(b):
            raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                               "Use the `^` or `logical_xor()` operator instead.")
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    ta, tb, x, y = _operands(a, b)
    return _result(_apply(np.subtract, x, y), "sub", (ta, tb), lambda g: (g, -g))


def mul(a, b):
    """a * b: da = b * g, db = a * g  (lecture: `dcounts = counts_sum_inv * dprobs`)."""
    ta, tb, x, y = _operands(a, b)

    def backward(g):                                     # (nothing for a constant operand)
        return (y * g if ta is not None else None), (x * g if tb is not None else None)
    return _result(_apply(np.multiply, x, y), "mul", (ta, tb), backward)


def div(a, b):
    """a / b: da = g / b, db = -g * ((a / b) / b) = -g * (out / b), reusing the output; grouped as
    torch groups it, so the two agree to the bit (integer division is true division, as in torch)."""
    ta, tb, x, y = _operands(a, b, wrap=False)          # (true division: integers do not wrap)
    if ta is None and not isinstance(x, np.ndarray):    # number / tensor: torch computes s * (1/b),
        if y.dtype.kind != "f":                         # and so do we, to the bit
            y = y.astype(dtypes.default_float)
        with _quiet():
            r = np.reciprocal(y)
            out = r * x

        def backward(g):                                 # db = -(g * s) * (1/b)**2
            with _quiet():
                return None, -(g * x) * (r * r)
        return _result(out, "div", (ta, tb), backward)
    if np.result_type(x, y).kind != "f":
        x, y = np.asarray(x, dtypes.default_float), np.asarray(y, dtypes.default_float)
    with _quiet():
        out = _apply(np.divide, x, y)

    def backward(g):
        with _quiet():
            return g / y, -g * (out / y)
    return _result(out, "div", (ta, tb), backward)


def neg(x):
    """-x: dx = -g."""
    return _result(np.negative(x.data), "neg", (x,), lambda g: (-g,))


def pow(x, p):
    """x ** p for a scalar p: dx = p * x**(p-1) * g  (lecture: `dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv`)."""
    if isinstance(p, Tensor):
        if p.data.size != 1 or p._rg:
            raise TypeError("tinytape supports ** with a scalar exponent only (a number, "
                            "or a one-element tensor that does not require grad)")
        p = p.data.item()
    elif isinstance(p, np.generic):
        p = p.item()
    if not isinstance(p, (int, float)):
        raise TypeError(f"unsupported exponent type: {type(p).__name__}")
    data = x.data
    if data.dtype.kind != "f":                            # integer and bool tensors, as torch's:
        dt = dtypes.result_type(data.dtype, data.ndim, np.result_type(p), None)   # float p: float32
        if dt.kind != "f" and p < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        data = data.astype(dt, copy=False)
    with _quiet():
        out = data ** p
    if out.dtype != data.dtype:                           # bool ** True: numpy's int8, torch's bool
        out = out.astype(data.dtype)

    def backward(g):
        if p == 0:
            return (np.zeros_like(g),)
        with _quiet():
            return (p * data ** (p - 1) * g,)
    return _result(out, "pow", (x,), backward)


def rpow(x, base):
    """base ** x for a scalar base: dx = out * log(base) * g."""
    base = _constant(base)
    data = x.data
    dt = dtypes.result_type(np.result_type(base), None, data.dtype, data.ndim)   # 2 ** int tensor: int
    if data.dtype != dt:
        data = data.astype(dt)
    with _quiet():
        out = np.power(base, data)
    if dt.kind != "f":                                    # an integer result is outside the graph
        return _make(out)
    with _quiet():
        log_base = np.log(np.asarray(base, dtype=dt))
    return _result(out, "rpow", (x,), lambda g: (out * log_base * g,))


def matmul(a, b):
    """a @ b: da = g @ b.T, db = a.T @ g  (lecture: `dh = dlogits @ W2.T`, `dW2 = h.T @ dlogits`).
    1-D operands and batches follow numpy/torch: a vector is a row (left) or a column (right).
    Operands of two dtypes are refused, as torch refuses them (no silent float64)."""
    da = a.data.dtype if isinstance(a, Tensor) else getattr(a, "dtype", None)
    db = b.data.dtype if isinstance(b, Tensor) else getattr(b, "dtype", None)
    if da is not None and db is not None and da != db:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {dtypes.C_NAMES.get(da, da)} != "
                           f"{dtypes.C_NAMES.get(db, db)}")
    ta, tb, x, y = _operands(a, b)
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{np.ndim(x)}D and {np.ndim(y)}D")
    try:
        out = np.matmul(x, y)
    except ValueError:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, x.shape))} and {'x'.join(map(str, y.shape))})") from None

    def backward(g):
        need_a = ta is not None and ta._rg
        need_b = tb is not None and tb._rg
        if x.ndim == 2 and y.ndim == 2:                   # the lecture's case
            return (g @ y.T if need_a else None), (x.T @ g if need_b else None)
        if x.ndim == 1 and y.ndim == 1:                   # dot product
            return g * y, g * x
        xx = x[None, :] if x.ndim == 1 else x             # a vector on the left is a row,
        yy = y[:, None] if y.ndim == 1 else y             # on the right a column
        gg = g[..., None, :] if x.ndim == 1 else g
        gg = gg[..., None] if y.ndim == 1 else gg
        da = gg @ np.swapaxes(yy, -1, -2) if need_a else None
        db = np.swapaxes(xx, -1, -2) @ gg if need_b else None
        if da is not None and x.ndim == 1:
            da = da[..., 0, :]
        if db is not None and y.ndim == 1:
            db = db[..., 0]
        return da, db                                     # the engine sums broadcast batch dims
    return _result(out, "matmul", (ta, tb), backward)


def addmm(input, mat1, mat2):
    """input + mat1 @ mat2 for two matrices, as one op (torch.addmm; nn.Linear's `x @ W + b`, the
    lecture's `hprebn = embcat @ W1 + b1`): matmul's and add's rules together, dmat1 = g @ mat2.T,
    dmat2 = mat1.T @ g, dinput = g (the engine sums it over the rows: `db1 = dhprebn.sum(0)`)."""
    tb = input if isinstance(input, Tensor) else None
    tx = mat1 if isinstance(mat1, Tensor) else None
    tw = mat2 if isinstance(mat2, Tensor) else None
    b = tb.data if tb is not None else np.asarray(input)
    x = tx.data if tx is not None else np.asarray(mat1)
    w = tw.data if tw is not None else np.asarray(mat2)
    if x.ndim != 2 or w.ndim != 2:
        name, m = ("mat1", x) if x.ndim != 2 else ("mat2", w)
        raise RuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    if x.dtype != w.dtype or b.dtype != w.dtype:
        name, m = ("self", b) if b.dtype != w.dtype else ("mat1", x)
        raise RuntimeError(f"{name} and mat2 must have the same dtype, but got "
                           f"{dtypes.TORCH_NAMES.get(m.dtype, m.dtype)} and {dtypes.TORCH_NAMES.get(w.dtype, w.dtype)}")
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({x.shape[0]}x{x.shape[1]} and {w.shape[0]}x{w.shape[1]})")
    out = x @ w
    try:
        out += b                                          # in place: x @ w is a new array
    except ValueError:
        raise expand_error(b.shape, out.shape, dtypes.TORCH_NAMES.get(b.dtype, "")) from None

    def backward(g):
        return (g, g @ w.T if tx is not None and tx._rg else None,
                x.T @ g if tw is not None and tw._rg else None)
    return _result(out, "addmm", (tb, tx, tw), backward)


# ---------------------------------------------------------------------------------- elementwise
def _real(x):
    """x's data as floats: integer and bool tensors (which never require grad) become float32, as
    torch's exp, log, tanh, sqrt, sigmoid give for them (numpy would give float64)."""
    data = x.data
    return data if data.dtype.kind == "f" else data.astype(dtypes.default_float)


def exp(x):
    """e^x: dx = out * g, reusing the output  (lecture: `dnorm_logits = counts * dcounts`)."""
    with _quiet():
        out = np.exp(_real(x))
    return _result(out, "exp", (x,), lambda g: (out * g,))


def log(x):
    """log x: dx = (1 / x) * g  (lecture: `dprobs = (1.0 / probs) * dlogprobs`). log 0 = -inf."""
    data = _real(x)
    with _quiet():
        out = np.log(data)

    def backward(g):
        with _quiet():
            return ((1.0 / data) * g,)
    return _result(out, "log", (x,), backward)


def tanh(x):
    """tanh x: dx = (1 - out**2) * g, reusing the output  (lecture: `dhpreact = (1.0 - h**2) * dh`)."""
    out = np.tanh(_real(x))
    return _result(out, "tanh", (x,), lambda g: ((1.0 - out**2) * g,))


def sqrt(x):
    """sqrt x: dx = g / (2 * out)."""
    with _quiet():
        out = np.sqrt(_real(x))

    def backward(g):
        with _quiet():
            return (g / (2 * out),)
    return _result(out, "sqrt", (x,), backward)


def relu(x):
    """max(x, 0): dx = g where out > 0, else 0 (relu'(0) = 0, as torch)."""
    out = np.maximum(x.data, 0)
    return _result(out, "relu", (x,), lambda g: (np.where(out > 0, g, 0),))


def sigmoid(x):
    """1 / (1 + e^-x): dx = out * (1 - out) * g."""
    with _quiet():
        out = 1 / (1 + np.exp(-_real(x)))
    return _result(out, "sigmoid", (x,), lambda g: (out * (1 - out) * g,))


def abs(x):
    """|x|: dx = sign(x) * g (sign(0) = 0, as torch)."""
    data = x.data
    return _result(np.abs(data), "abs", (x,), lambda g: (np.sign(data) * g,))


def clamp(x, min=None, max=None):
    """x clipped to [min, max]: dx = g where min <= x <= max (bounds included, as torch), else 0."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    data = x.data
    if data.dtype.kind != "f":                            # int tensor, float bound: float32, as torch
        dt = data.dtype
        for bound in (min, max):
            if bound is not None:
                dt = dtypes.result_type(dt, data.ndim, np.result_type(_constant(bound)), None)
        data = data.astype(dt, copy=False)
    out = np.clip(data, min, max)
    inside = np.ones(data.shape, dtype=bool)
    if min is not None:
        inside &= data >= min
    if max is not None:
        inside &= data <= max
    return _result(out.astype(data.dtype, copy=False), "clamp", (x,), lambda g: (np.where(inside, g, 0),))


def where(condition, a, b):
    """condition ? a : b: da = g where condition, db = g elsewhere."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {cond.dtype}")
    ta, tb, x, y = _operands(a, b)
    try:
        out = np.where(cond, x, y)
    except ValueError:
        try:
            shape = np.broadcast_shapes(np.shape(x), np.shape(y))
        except ValueError:
            raise broadcast_error(x, y) from None
        raise broadcast_error(cond, np.empty(shape)) from None
    if out.dtype == np.float64 and not isinstance(x, np.ndarray) and not isinstance(y, np.ndarray):
        out = out.astype(dtypes.default_float)            # where(c, 1.0, 0.0): two numbers, torch's float32
    return _result(out, "where", (ta, tb), lambda g: (np.where(cond, g, 0), np.where(cond, 0, g)))


def clone(x):
    """A copy: dx = g."""
    return _result(x.data.copy(), "clone", (x,), lambda g: (g,))


def cast(x, dtype):
    """x as another dtype. Float to float: dx = g (the engine casts it back); to integers: no gradient."""
    dtype = dtypes.check_supported(np.dtype(dtype))
    if dtype == x.data.dtype:
        return x
    out = x.data.astype(dtype)
    if dtype.kind != "f":
        return _make(out)
    return _result(out, "cast", (x,), lambda g: (g,))


# ---------------------------------------------------------------------------------- reductions
ACCURATE_FROM = 1024


def forward_sum(data, axes, keepdims, count):
    """data.sum(axes) for a forward pass that reduces `count` elements into each result.

    numpy adds along a non-contiguous axis one row at a time, so a float32 sum's error grows with
    the count (2.4e-5 relative for the mean of 182,625 rows; torch: 3e-7). From ACCURATE_FROM terms
    on, float32 is accumulated in float64 and rounded once. Below (every sum of a batch-32 step) it
    is the plain numpy sum, bit-identical to a learner's. Backward rules never use this: they stay
    the lecture's numpy expressions."""
    if count >= ACCURATE_FROM and data.dtype == np.float32:
        return data.sum(axis=axes, keepdims=keepdims, dtype=np.float64).astype(np.float32)
    return data.sum(axis=axes, keepdims=keepdims)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _expand(g, axes, keepdim):
    """g with the reduced axes back as size-1 dims, ready to broadcast over the input."""
    return g if keepdim else np.expand_dims(g, axes)


def sum(x, dim=None, keepdim=False):
    """Sum over dims: dx = g copied along them  (lecture: `dcounts += ones_like(counts) * dcounts_sum`)."""
    data = x.data
    axes = norm_dims(dim, data.ndim)
    shape = data.shape                                    # the rule keeps the shape, not the data
    if data.dtype.kind == "f":
        out = forward_sum(data, axes, keepdim, _count(shape, axes))
    else:                                                 # integers and bools sum to int64, as torch's
        out = data.sum(axis=axes, keepdims=keepdim, dtype=np.int64)
    return _result(out, "sum", (x,), lambda g: (np.broadcast_to(_expand(g, axes, keepdim), shape),))


def mean(x, dim=None, keepdim=False):
    """Mean over dims: dx = g / N copied along them."""
    data = x.data
    if data.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {dtypes.TORCH_NAMES.get(data.dtype, data.dtype)}")
    axes = norm_dims(dim, data.ndim)
    n = _count(data.shape, axes)
    with _quiet():                                        # an empty mean is nan
        out = forward_sum(data, axes, keepdim, n) / n
    shape = data.shape
    return _result(out, "mean", (x,), lambda g: (np.broadcast_to(_expand(g, axes, keepdim) / n, shape),))


def var(x, dim=None, correction=1, keepdim=False):
    """Variance with `correction` (1: unbiased, torch's default; 0: biased):
    dx = 2 / (N - correction) * (x - mean) * g."""
    data = x.data
    axes = norm_dims(dim, data.ndim)
    n = _count(data.shape, axes)
    if data.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    # N <= correction, as torch: the forward divides by max(0, N - correction) (inf or nan), the
    # backward by N - correction itself (inf when they are equal)
    with _quiet():
        diff = data - forward_sum(data, axes, True, n) / n
        out = forward_sum(diff * diff, axes, keepdim, n) / (n - correction if n > correction else 0)
    scale = 2.0 / (n - correction) if n != correction else float("inf")

    def backward(g):
        if n == correction:
            with _quiet():                                # inf * 0 = nan, as torch
                return (scale * diff * _expand(g, axes, keepdim),)
        return (scale * diff * _expand(g, axes, keepdim),)
    return _result(out, "var", (x,), backward)


def std(x, dim=None, correction=1, keepdim=False):
    """sqrt(var): dx = var's rule applied to g / (2 * out), and 0 where out is 0 (constant data:
    torch's convention, where the chain through ** 0.5 would give 0 * inf = nan)."""
    v = var(x, dim, correction, keepdim)
    out = np.sqrt(v.data)

    def backward(g):
        with _quiet():
            return (np.where(out == 0, 0, g / (2 * out)),)
    return _result(out, "std", (v,), backward)


MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _extreme(x, dim, keepdim, name, arg, result):
    data = x.data
    if dim is None:                                       # over everything: ties share g evenly,
        if data.size == 0:                                # as torch.max(x) does
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               f"Specify the reduction dim with the 'dim' argument.")
        out = data.max() if name == "max" else data.min()
        hit = data == out

        def backward(g):
            return (hit * (g / hit.sum()),)
        return _result(np.asarray(out), name, (x,), backward)
    axis = norm_dim(dim, data.ndim)
    if axis is None:                                      # a 0-d tensor: itself, index 0
        return result(_result(data.copy(), name, (x,), lambda g: (g,)), _make(np.zeros((), np.int64)))
    if data.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")
    idx = np.expand_dims(arg(data, axis=axis), axis)      # the first extreme, as torch.max(x, dim)
    values = np.take_along_axis(data, idx, axis)          # (idx keeps the reduced dim: the rule needs it)
    shape, dtype = data.shape, data.dtype

    def backward(g):                                      # one-hot to the returned index
        dx = np.zeros(shape, dtype)                       # (lecture: `one_hot(...indices) * dlogit_maxes`)
        np.put_along_axis(dx, idx, _expand(g, (axis,), keepdim), axis)
        return (dx,)
    indices = idx if keepdim else idx.squeeze(axis)
    if not keepdim:
        values = values.squeeze(axis)
    return result(_result(values, name, (x,), backward), _make(indices.astype(np.int64)))


def max(x, dim=None, keepdim=False):
    """max(): the largest value. max(dim): (values, indices); the gradient goes to the index."""
    return _extreme(x, dim, keepdim, "max", np.argmax, MaxResult)


def min(x, dim=None, keepdim=False):
    return _extreme(x, dim, keepdim, "min", np.argmin, MinResult)


def argmax(x, dim=None, keepdim=False):
    data = x.data
    if dim is None:
        return _make(np.asarray(np.argmax(data), np.int64))
    return _make(np.argmax(data, axis=norm_dim(dim, data.ndim), keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim=False):
    data = x.data
    if dim is None:
        return _make(np.asarray(np.argmin(data), np.int64))
    return _make(np.argmin(data, axis=norm_dim(dim, data.ndim), keepdims=keepdim).astype(np.int64))


# ---------------------------------------------------------------------------------- shape
def reshape(x, shape):
    """x viewed with another shape (one -1 inferred): dx = g viewed back  (`demb = dembcat.view(emb.shape)`)."""
    data = x.data
    shape = tuple(map(int, shape))
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    try:
        out = data.reshape(shape)
    except ValueError:
        if data.size == 0 and -1 in shape:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                               f"unspecified dimension size -1 can be any value and is ambiguous") from None
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {data.size}") from None
    back = data.shape
    return _result(out, "view", (x,), lambda g: (g.reshape(back),))


def flatten(x, start_dim=0, end_dim=-1):
    shape = x.data.shape
    if not shape:
        return reshape(x, (1,))
    s, e = norm_dim(start_dim, len(shape)), norm_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(x, shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


def transpose(x, dim0, dim1):
    """Swap two dims: dx = g with them swapped back."""
    a, b = norm_dim(dim0, x.data.ndim), norm_dim(dim1, x.data.ndim)
    if a is None:
        return _result(x.data, "transpose", (x,), lambda g: (g,))
    return _result(np.swapaxes(x.data, a, b), "transpose", (x,), lambda g: (np.swapaxes(g, a, b),))


def permute(x, dims):
    """Reorder dims: dx = g with the inverse order."""
    ndim = x.data.ndim
    axes = tuple(norm_dim(d, ndim) for d in dims) if ndim else ()
    if len(axes) != ndim or sorted(axes) != list(range(ndim)):
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {ndim} "
                           f"is not equal to len(dims) = {len(dims)}" if len(axes) != ndim else
                           "permute(): duplicate dims are not allowed.")
    inverse = tuple(np.argsort(axes))
    return _result(x.data.transpose(axes), "permute", (x,), lambda g: (g.transpose(inverse),))


def unsqueeze(x, dim):
    ndim = x.data.ndim
    if not -ndim - 1 <= dim <= ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim - 1}, {ndim}], but got {dim})")
    axis = dim % (ndim + 1)
    return reshape(x, x.data.shape[:axis] + (1,) + x.data.shape[axis:])


def squeeze(x, dim=None):
    shape = x.data.shape
    if dim is None:
        return reshape(x, tuple(s for s in shape if s != 1))
    axes = norm_dims(dim, len(shape)) if dim != () else ()     # squeeze(()) squeezes nothing
    return reshape(x, tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1)))


def expand(x, shape):
    """x broadcast to `shape` (-1 keeps a dim): dx = g summed back, by the engine."""
    shape = tuple(s if s != -1 else x.data.shape[i - len(shape) + x.data.ndim] for i, s in enumerate(shape))
    try:
        out = np.broadcast_to(x.data, shape)
    except ValueError:
        raise expand_error(x.data.shape, shape, dtypes.TORCH_NAMES.get(x.data.dtype, "")) from None
    return _result(out, "expand", (x,), lambda g: (g,))


def cat(tensors, dim=0):
    """Join along a dim: each input gets its slice of g."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ts = [t if isinstance(t, Tensor) else tensor(t) for t in tensors]
    axis = norm_dim(dim, ts[0].data.ndim)
    if axis is None:
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    try:
        out = np.concatenate(_same_dtype(ts), axis=axis)
    except ValueError:
        raise _cat_error(ts, axis) from None
    cuts = np.cumsum([t.data.shape[axis] for t in ts])[:-1]
    return _result(out, "cat", tuple(ts), lambda g: tuple(np.split(g, cuts, axis=axis)))


def _same_dtype(ts):
    """The tensors' arrays in their common dtype by torch's promotion (int64 with float32 is
    float32, where numpy would make float64)."""
    dt = ts[0].data.dtype
    for t in ts[1:]:
        if t.data.dtype != dt:
            dt = dtypes.result_type(dt, 1, t.data.dtype, 1)
    return [t.data if t.data.dtype == dt else t.data.astype(dt) for t in ts]


def _cat_error(ts, axis):
    """torch's words for tensors that do not fit together."""
    first = ts[0].data.shape
    for k, t in enumerate(ts[1:], 1):
        shape = t.data.shape
        if len(shape) != len(first):
            return RuntimeError(f"Tensors must have same number of dimensions: got {len(first)} and {len(shape)}")
        for d, (m, n) in enumerate(zip(first, shape)):
            if d != axis and m != n:
                return RuntimeError(f"Sizes of tensors must match except in dimension {axis}. Expected size "
                                    f"{m} but got size {n} for tensor number {k} in the list.")
    return RuntimeError(f"Sizes of tensors must match except in dimension {axis}")


def stack(tensors, dim=0):
    """Stack along a new dim: each input gets its slice of g."""
    ts = [t if isinstance(t, Tensor) else tensor(t) for t in tensors]
    if not ts:
        raise RuntimeError("stack expects a non-empty TensorList")
    ndim = ts[0].data.ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    axis = dim % ndim
    try:
        out = np.stack(_same_dtype(ts), axis=axis)
    except ValueError:
        k = next(k for k, t in enumerate(ts) if t.data.shape != ts[0].data.shape)
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ts[0].data.shape)} at "
                           f"entry 0 and {list(ts[k].data.shape)} at entry {k}") from None
    return _result(out, "stack", tuple(ts), lambda g: tuple(np.moveaxis(g, axis, 0)))


# ---------------------------------------------------------------------------------- indexing
def _index_part(i):
    if isinstance(i, Tensor):
        i = i.data
    elif isinstance(i, range):
        return np.arange(i.start, i.stop, i.step)
    elif isinstance(i, list):
        i = np.asarray([e.item() if isinstance(e, Tensor) else e for e in i])
    if isinstance(i, np.ndarray) and i.dtype.kind not in "iub":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if isinstance(i, (float, np.floating)):
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                         "Variables are valid indices (got float)")
    return i


def _is_int(i):
    return (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))) or \
        (isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu")


class _Select:
    """x[0, :, [1, 2]] as torch reads it: the integers select first, then the rest indexes what is
    left. numpy counts an int beside an index array as one more index array and moves the indexed
    dims to the front: (3, 2) for torch would be (2, 3), transposed, for numpy."""
    __slots__ = ("first", "rest")

    def __init__(self, idx):
        first = []
        for i in idx:
            if _is_int(i):
                first.append(int(i))
            elif i is Ellipsis:
                first.append(i)
            elif isinstance(i, np.ndarray) and i.dtype.kind == "b":
                first.extend([slice(None)] * i.ndim)      # a mask consumes its dims (0-d: none)
            elif i is not None:
                first.append(slice(None))
        self.first = tuple(first)
        self.rest = tuple(i for i in idx if not _is_int(i))

    def take(self, a):
        return a[self.first][self.rest]


def _index(index, ndim):
    """A tensor index as numpy's: tensors, ranges and lists become integer (or bool) arrays. With
    index arrays, torch's reading where numpy's differs: integers select first (_Select), and an
    Ellipsis that stands for no dim is no separator (x[None, [0], ..., [1]] on 2-D keeps None first)."""
    if isinstance(index, tuple):
        idx = tuple(_index_part(i) for i in index)
        if _advanced(idx):
            if any(i is Ellipsis for i in idx) and ndim == builtins.sum(
                    i.ndim if isinstance(i, np.ndarray) and i.dtype.kind == "b" else 1
                    for i in idx if i is not None and i is not Ellipsis):
                idx = tuple(i for i in idx if i is not Ellipsis)
            if any(_is_int(i) for i in idx):
                return _Select(idx)
        return idx
    return _index_part(index)


def _advanced(idx):
    if isinstance(idx, tuple):
        return any(isinstance(i, np.ndarray) for i in idx)
    return isinstance(idx, (np.ndarray, _Select))


def _take(a, idx):
    return idx.take(a) if type(idx) is _Select else a[idx]


def _index_error(e, data, index):
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
    parts = [_index_part(p) for p in (index if isinstance(index, tuple) else (index,))]
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
        elif isinstance(p, (int, np.integer)) or (isinstance(p, np.ndarray) and p.ndim == 0 and p.dtype.kind != "b"):
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


def getitem(x, index):
    """x[index]. Backward is a scatter-add: each input element gets the sum of g over the output
    elements that were read from it, so repeated indices accumulate (`C[Xb]` always repeats;
    lecture: `for k, j: dC[Xb[k, j]] += demb[k, j]`)."""
    data = x.data
    idx = _index(index, data.ndim)
    try:
        out = _take(data, idx)
    except IndexError as e:
        raise _index_error(e, data, index) from None
    shape, dtype = data.shape, data.dtype
    if not _advanced(idx):                                # slices, ints, None: each element read once

        def backward(g):
            dx = np.zeros(shape, dtype)
            dx[idx] = g
            return (dx,)
    else:                                                 # where each output element came from:
        def backward(g):                                  # the same index applied to positions
            dx = np.zeros(shape, dtype)                   # (C order: dx.reshape(-1) is a view of it)
            where = _take(np.arange(dx.size).reshape(shape), idx)
            np.add.at(dx.reshape(-1), where.reshape(-1), np.broadcast_to(g, where.shape).reshape(-1))
            return (dx,)
    return _result(out, "index", (x,), backward)


def _check_inplace(x, value=None):
    if tape._enabled and (x._rg or (isinstance(value, Tensor) and value._rg)):
        if x._node is None and x._rg:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        raise RuntimeError("in-place operations on tensors that take part in the graph are not supported "
                           "by tinytape: compute out of place (y = x + 1) or wrap the update in no_grad()")


def setitem(x, index, value):
    """x[index] = value, written into x's data. Not recorded: for tensors outside the graph."""
    _check_inplace(x, value)
    v = value.data if isinstance(value, Tensor) else value
    idx = _index(index, x.data.ndim)
    target, idx = (x.data[idx.first], idx.rest) if type(idx) is _Select else (x.data, idx)
    try:
        target[idx] = v
    except IndexError as e:
        raise _index_error(e, x.data, index) from None
    except ValueError:
        raise expand_error(np.shape(v), target[idx].shape) from None
    tape.written(x)                                       # a graph that saved x's data is stale now


def inplace(x, other, ufunc):
    """x += other (and -=, *=, /=), written into x's data. Not recorded: for tensors outside the graph."""
    _check_inplace(x, other)
    y = other.data if isinstance(other, Tensor) else _constant(other)
    try:
        ufunc(x.data, y, out=x.data)
    except ValueError:
        try:
            shape = np.broadcast_shapes(x.data.shape, np.shape(y))
        except ValueError:
            raise broadcast_error(x.data, y) from None
        raise RuntimeError(f"output with shape {list(x.data.shape)} doesn't match the broadcast shape "
                           f"{list(shape)}") from None
    except TypeError:                                     # numpy's casting error: float into an int tensor
        got = dtypes.result_type(x.data.dtype, x.data.ndim, *_dtype_ndim(
            other if isinstance(other, Tensor) else None, y))
        got = dtypes.default_float if ufunc is np.divide and got.kind != "f" else got
        raise RuntimeError(f"result type {dtypes.TORCH_NAMES.get(np.dtype(got), got)} can't be cast to the "
                           f"desired output type {dtypes.TORCH_NAMES.get(x.data.dtype, x.data.dtype)}") from None
    tape.written(x)                                       # a graph that saved x's data is stale now
    return x


def compare(a, b, ufunc):
    """Elementwise comparison: a bool tensor, outside the graph."""
    ta, tb, x, y = _operands(a, b)
    return _make(_apply(ufunc, x, y))
