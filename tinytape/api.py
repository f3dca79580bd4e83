"""The torch front of every out-of-place op: check -> promote -> call the primitive -> translate
numpy's errors into torch's -> record. The math is in ops.py; this file is only torch's rules
(operand kinds, type promotion, dims, error texts, torch's grad_fn names, views).

The hot path: `type(x) is Tensor` first, the same-dtype fast path before any promotion, numpy's
own error detection (try/except) rather than pre-checks, one Node per recorded op.
"""
import builtins

import numpy as np

from . import dtypes, errors, ops, tape
from .dtypes import result_type
from .quiet import quiet
from .tape import Node, edge
from .tensor import Tensor, _make, _view_of

def record(data, rule, prim, name, inputs):
    """Wrap `data` as the op's result; record a Node if grad mode is on and an input requires grad."""
    out = _make(data)
    if tape._enabled:
        for t in inputs:                                # (a view's base may require grad since an
            if t is not None and (t._rg or t._view is not None and t._view[0]._rg):   # in-place op)
                break
        else:
            return out
        saved = None
        if prim.saves:
            saved = []
            for i in prim.saved_args:
                if i < len(inputs) and inputs[i] is not None:
                    t = inputs[i]
                    saved.append((t._ver, t._ver[0], t))
            if prim.saves_out:
                saved.append((out._ver, 0, None))
        edges = []
        for t in inputs:
            if t is None or (t._view is not None and t._view[2] != t._ver[0]):
                edges.append(t if t is None else edge(t))
            else:
                node = t._node
                edges.append(node if node is not None else t if t._rg else None)
        Node(name, tuple(edges), rule, saved, out)
    return out


def view(data, rule, prim, name, x, fn):
    """A result that shares x's memory (view, transpose, basic indexing, expand): it shares x's
    version counter and knows its base and how to read itself from it (`fn`), for in-place ops."""
    out = record(data, rule, prim, name, (x,))
    _view_of(out, x, fn)
    return out


# ---------------------------------------------------------------------------------- operands
def constant(v):
    """A non-tensor operand: numbers stay weak Python scalars (np.float64 is a float subclass but
    numpy would let it promote float32), numpy arrays stay arrays. Anything else: None (the
    dunder methods then return NotImplemented, so Python raises torch's TypeError)."""
    t = type(v)
    if t is float or t is int or t is bool:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (builtins.bool, builtins.int, builtins.float)):
        return v
    if isinstance(v, np.ndarray):
        return v
    return None


class NotAnOperand(TypeError):
    """Raised for an operand that is not a tensor, a number or an array; the operator methods turn
    it into NotImplemented, so that Python raises its own TypeError naming both types, as torch."""


def _meta(t, v):
    if t is not None:
        return t._data.dtype, t._data.ndim
    if isinstance(v, np.ndarray):
        return v.dtype, v.ndim
    return np.result_type(v), None                      # a scalar: weak (None)


def operands(a, b, wrap=True):
    """(tensor or None, numpy operand) for both sides, promoted with torch's rules (dtypes.py).
    Raises TypeError for operands that are not tensors, numbers or arrays."""
    ta = a if type(a) is Tensor or isinstance(a, Tensor) else None
    tb = b if type(b) is Tensor or isinstance(b, Tensor) else None
    x = a._data if ta is not None else constant(a)
    y = b._data if tb is not None else constant(b)
    if x is None or y is None:
        raise NotAnOperand(f"unsupported operand type(s): '{_kind(a)}' and '{_kind(b)}'")
    if ta is not None and tb is not None and x.dtype == y.dtype:
        return ta, tb, x, y                             # the common case: nothing to promote
    if tb is None and type(y) in (float, int) and ta is not None and x.dtype.kind == "f":
        return ta, tb, x, y                             # float tensor and a number: the tensor's dtype
    if ta is None and tb is not None and type(x) in (float, int) and y.dtype.kind == "f":
        return ta, tb, x, y
    dt = result_type(*_meta(ta, x), *_meta(tb, y))
    if isinstance(x, np.ndarray) and x.dtype != dt:
        x = x.astype(dt)
    if isinstance(y, np.ndarray) and y.dtype != dt:
        y = y.astype(dt)
    if wrap and dt.kind in "iu":                        # an int scalar wraps into the tensor's integer
        if type(x) is int:                              # type, as torch's does (numpy would raise
            x = np.array(x).astype(dt)                  # OverflowError)
        if type(y) is int:
            y = np.array(y).astype(dt)
    return ta, tb, x, y


def _kind(v):
    t = type(v)
    return t.__name__ if t.__module__ in ("builtins", "tinytape.tensor") else f"{t.__module__}.{t.__name__}"


def _is_bool(v):
    if isinstance(v, Tensor):
        return v._data.dtype.kind == "b"
    return isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and v.dtype.kind == "b")


def _number(v):
    return type(v) is not np.ndarray


def binary(prim, x, y):
    try:
        return prim(x, y)
    except ValueError:
        raise errors.broadcast_error(x, y) from None


def _real(data):
    """Integer and bool data as float32 (torch's exp, log, tanh, ... of them; numpy would give float64)."""
    return data if data.dtype.kind == "f" else data.astype(dtypes.default_float())


# ---------------------------------------------------------------------------------- arithmetic
def add(a, b):
    ta, tb, x, y = operands(a, b)
    if _number(y):
        return record(*ops.add_scalar(x, y), ops.add_scalar, "AddBackward0", (ta,))
    if _number(x):
        return record(*ops.add_scalar(y, x), ops.add_scalar, "AddBackward0", (tb,))
    return record(*binary(ops.add, x, y), ops.add, "AddBackward0", (ta, tb))


def sub(a, b):
    if _is_bool(a) or _is_bool(b):
        raise errors.bool_sub(_is_bool(a) and _is_bool(b))
    ta, tb, x, y = operands(a, b)
    if _number(y):
        return record(*ops.add_scalar(x, -y), ops.add_scalar, "SubBackward0", (ta,))
    if _number(x):
        return record(*ops.rsub_scalar(y, x), ops.rsub_scalar, "RsubBackward1", (tb,))
    return record(*binary(ops.sub, x, y), ops.sub, "SubBackward0", (ta, tb))


def mul(a, b):
    ta, tb, x, y = operands(a, b)
    if _number(y):
        return record(*ops.mul_scalar(x, y), ops.mul_scalar, "MulBackward0", (ta,))
    if _number(x):
        return record(*ops.mul_scalar(y, x), ops.mul_scalar, "MulBackward0", (tb,))
    return record(*binary(ops.mul, x, y), ops.mul, "MulBackward0", (ta, tb))


def div(a, b):
    """True division (integers divide as floats, as in torch)."""
    ta, tb, x, y = operands(a, b, wrap=False)
    with quiet():
        if _number(x):                                  # number / tensor: torch computes s * (1/b)
            return record(*ops.rdiv_scalar(_real(y), x), ops.rdiv_scalar, "MulBackward0", (tb,))
        if _number(y):
            return record(*ops.div_scalar(_real(x), y), ops.div_scalar, "DivBackward0", (ta,))
        if x.dtype.kind != "f":
            x, y = _real(x), y.astype(dtypes.default_float())
        return record(*binary(ops.div, x, y), ops.div, "DivBackward0", (ta, tb))


def neg(x):
    return record(*ops.neg(x._data), ops.neg, "NegBackward0", (x,))


def pow(x, p):
    """x ** p for a number p (or a one-element tensor that does not require grad)."""
    if isinstance(p, Tensor):
        if p._data.size != 1 or p._rg:
            raise TypeError("tinytape supports ** with a scalar exponent only (a number, "
                            "or a one-element tensor that does not require grad)")
        p = p._data.item()
    elif isinstance(p, np.generic):
        p = p.item()
    if not isinstance(p, (builtins.int, builtins.float)):       # Python's words for x ** [2], as torch's
        raise TypeError(f"unsupported operand type(s) for ** or pow(): 'Tensor' and '{_kind(p)}'")
    data = x._data
    if data.dtype.kind != "f":                          # integer and bool tensors, as torch's
        dt = result_type(data.dtype, data.ndim, np.result_type(p), None)      # float p: float32
        if dt.kind != "f" and p < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        data = data.astype(dt, copy=False)
    with quiet():
        out, rule = ops.pow_scalar(data, p)
    if out.dtype != data.dtype:                         # bool ** True: numpy's int8, torch's bool
        out = out.astype(data.dtype)
    return record(out, rule, ops.pow_scalar, "PowBackward0", (x,))


def rpow(x, base):
    """base ** x for a number base."""
    base = constant(base)
    data = x._data
    dt = result_type(np.result_type(base), None, data.dtype, data.ndim)      # 2 ** int tensor: int
    with quiet():
        if dt.kind != "f":                              # an integer result is outside the graph
            return _make(np.power(base, data.astype(dt, copy=False)))
        return record(*ops.rpow_scalar(data.astype(dt, copy=False), base), ops.rpow_scalar, "PowBackward2", (x,))


def matmul(a, b):
    """a @ b; operands of two dtypes are refused, as torch refuses them (no silent float64)."""
    da = a._data.dtype if isinstance(a, Tensor) else getattr(a, "dtype", None)
    db = b._data.dtype if isinstance(b, Tensor) else getattr(b, "dtype", None)
    if da is not None and db is not None and da != db:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {dtypes.C_NAMES.get(da, da)} != "
                           f"{dtypes.C_NAMES.get(db, db)}")
    ta, tb, x, y = operands(a, b)
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{np.ndim(x)}D and {np.ndim(y)}D")
    try:
        out, rule = ops.matmul(x, y)
    except ValueError:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, x.shape))} and {'x'.join(map(str, y.shape))})") from None
    name = "MmBackward0" if x.ndim == 2 and y.ndim == 2 else "DotBackward0" if x.ndim == y.ndim == 1 else \
        "MvBackward0" if x.ndim == 2 and y.ndim == 1 else "UnsafeViewBackward0"
    return record(out, rule, ops.matmul, name, (ta, tb))


def addmm(input, mat1, mat2):
    """input + mat1 @ mat2 for two matrices, as one op (torch.addmm; nn.Linear's `x @ W + b`)."""
    tb, tx, tw = (t if isinstance(t, Tensor) else None for t in (input, mat1, mat2))
    b, x, w = (t._data if t is not None else np.asarray(v) for t, v in ((tb, input), (tx, mat1), (tw, mat2)))
    if x.ndim != 2 or w.ndim != 2:
        name, m = ("mat1", x) if x.ndim != 2 else ("mat2", w)
        raise RuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    if x.dtype != w.dtype or b.dtype != w.dtype:
        name, m = ("self", b) if b.dtype != w.dtype else ("mat1", x)
        raise RuntimeError(f"{name} and mat2 must have the same dtype, but got {errors.name(m.dtype)} and "
                           f"{errors.name(w.dtype)}")
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({x.shape[0]}x{x.shape[1]} and {w.shape[0]}x{w.shape[1]})")
    try:
        out, rule = ops.addmm(b, x, w)
    except ValueError:
        raise errors.expand_error(b.shape, (x.shape[0], w.shape[1]), errors.name(b.dtype)) from None
    return record(out, rule, ops.addmm, "AddmmBackward0", (tb, tx, tw))


# ---------------------------------------------------------------------------------- elementwise
def _unary(prim, name, warns=True):
    """The front of exp, log, ...: integer data as float32; numpy's overflow, log 0 or sqrt of a
    negative silenced (torch gives inf or nan without a word)."""
    def op(x):
        if not warns:
            return record(*prim(_real(x._data)), prim, name, (x,))
        with quiet():
            return record(*prim(_real(x._data)), prim, name, (x,))
    op.__name__ = prim.__name__
    op.__doc__ = prim.__doc__
    return op


exp = _unary(ops.exp, "ExpBackward0")
log = _unary(ops.log, "LogBackward0")
log10 = _unary(ops.log10, "Log10Backward0")
tanh = _unary(ops.tanh, "TanhBackward0", warns=False)
sqrt = _unary(ops.sqrt, "SqrtBackward0")
sigmoid = _unary(ops.sigmoid, "SigmoidBackward0")


def relu(x):
    return record(*ops.relu(x._data), ops.relu, "ReluBackward0", (x,))


def abs(x):
    return record(*ops.abs(x._data), ops.abs, "AbsBackward0", (x,))


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    data = x._data
    if data.dtype.kind != "f":                          # int tensor, float bound: float32, as torch
        dt = data.dtype
        for bound in (min, max):
            if bound is not None:
                dt = result_type(dt, data.ndim, np.result_type(constant(bound)), None)
        data = data.astype(dt, copy=False)
    return record(*ops.clamp(data, min, max), ops.clamp, "ClampBackward1", (x,))


def where(condition, a, b):
    tc = condition if isinstance(condition, Tensor) else None
    cond = tc._data if tc is not None else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{errors.name(cond.dtype)}")
    ta, tb, x, y = operands(a, b)
    try:
        out, rule = ops.where(cond, x, y)
    except ValueError:
        try:
            shape = np.broadcast_shapes(np.shape(x), np.shape(y))
        except ValueError:
            raise errors.broadcast_error(x, y) from None
        raise errors.broadcast_error(cond, np.empty(shape)) from None
    if out.dtype == np.float64 and _number(x) and _number(y):
        out = out.astype(dtypes.default_float())        # where(c, 1.0, 0.0): two numbers, float32
    return record(out, rule, ops.where, "WhereBackward0", (tc, ta, tb))


def clone(x):
    return record(*ops.clone(x._data), ops.clone, "CloneBackward0", (x,))


def contiguous(x):
    """x itself if C-contiguous, else a copy (recorded as a clone, as torch)."""
    return x if x._data.flags.c_contiguous else clone(x)


def cast(x, dtype):
    """x as another dtype. Float to float is recorded; to integers or bool: outside the graph."""
    dtype = dtypes.to_numpy(dtype)
    if dtype == x._data.dtype:
        return x
    if dtype.kind != "f" or x._data.dtype.kind != "f":
        return _make(x._data.astype(dtype))
    return record(*ops.cast(x._data, dtype), ops.cast, "ToCopyBackward0", (x,))


def compare(a, b, ufunc):
    """Elementwise comparison: a bool tensor, outside the graph."""
    ta, tb, x, y = operands(a, b)
    try:
        return _make(ufunc(x, y))
    except ValueError:
        raise errors.broadcast_error(x, y) from None
