"""In-place ops, as torch does them: `x += y`, `x[i] = v`, `x[i] += v`, `add_`, `zero_`, ...

An in-place op writes its result into x's memory and bumps x's version (shared with every view
of that memory), so a rule that saved the old values refuses to run (tape.py). In grad mode, when
x or the value requires grad, the op is also recorded, as torch records it:
- x is not a view: x's history is rewritten: x becomes the op's result, its new node's input being
  x's old node (`dcounts += ...`, `self.out += self.bias`);
- x is a view (x = base[0], base.view(...), ...): the base gets a `CopySlices` node (its old
  history outside the view, the op's rule inside it), and x becomes a view of the new base
  (`dC[ix] += demb[k, j]`);
- x is a leaf that requires grad (or a view of one): torch's error. Under `no_grad` the write is
  allowed and not recorded (the SGD step).
Every check runs before anything is written: an error leaves x as it was.
"""
import numpy as np

from . import dtypes, errors, indexing, ops, tape
from .api import constant, operands, NotAnOperand  # noqa: F401  (NotAnOperand: the methods catch it)
from .quiet import quiet
from .tape import Node, edge
from .tensor import Tensor, _make

_UFUNCS = {ops.add: np.add, ops.sub: np.subtract, ops.mul: np.multiply, ops.div: np.divide}
_NAMES = {ops.add: "AddBackward0", ops.sub: "SubBackward0", ops.mul: "MulBackward0", ops.div: "DivBackward0"}


def _requires_grad(t):
    return t is not None and (t._rg or (t._view is not None and t._view[0]._rg))


def _check(x, recording):
    """torch's refusals, before anything changes."""
    if recording:
        if x._node is None and x._rg:
            raise RuntimeError(errors.LEAF_INPLACE)
        if x._view is not None and x._view[0]._node is None and x._view[0]._rg:
            raise RuntimeError(errors.VIEW_OF_LEAF_INPLACE)
    if not x._data.flags.writeable:
        if 0 in x._data.strides and x._data.size > 1:
            raise RuntimeError(errors.OVERLAP)
        raise RuntimeError("this tensor's memory is read-only (a numpy array that cannot be written): clone() it first")


def _fits(x, out):
    """The result must keep x's shape and be castable to x's dtype (float into an int tensor: no)."""
    if out.shape != x._data.shape:
        raise errors.inplace_shape(x._data.shape, out.shape)
    if dtypes.category(out.dtype) > dtypes.category(x._data.dtype):
        raise errors.cast_result(out.dtype, x._data.dtype)


def write(x, out, rule, prim, name, inputs, at):
    """x's values become `out` (the primitive's result, whose rule gives one gradient per entry of
    `inputs`, x being inputs[at]); recorded as torch records it. Checks were made by the caller."""
    edges = tuple(None if t is None else (_old_edge(x) if i == at else edge(t)) for i, t in enumerate(inputs))
    np.copyto(x._data, out, casting="unsafe")
    x._ver[0] += 1
    saved = None
    if prim.saves:                                     # x's old values were given as a copy: only
        saved = tuple((t._ver, t._ver[0], t) for i, t in ((i, inputs[i]) for i in prim.saved_args if i < len(inputs))
                      if t is not None and i != at)    # the other inputs need a version check
    if x._view is None:
        Node(name, edges, rule, saved, x)
        return x
    base, read, _ = x._view

    def copy_slices(g):                                # outside the view: g; inside: the op's rule
        gb = g.copy()
        region = read(gb)
        grads = rule(region.copy())
        region[...] = 0 if grads[at] is None else grads[at]
        return (gb,) + tuple(d for i, d in enumerate(grads) if i != at)
    Node("torch::autograd::CopySlices", (_old_edge(base),) + tuple(e for i, e in enumerate(edges) if i != at), copy_slices, saved, base)
    x._view = (base, read, -1)                         # stale: x becomes a view of the new base
    tape.refresh_view(x)
    return x


def _old_edge(t):
    return t._node if t._node is not None else t if t._rg else None


def _recording(*tensors):
    return tape._enabled and any(_requires_grad(t) for t in tensors)


# ---------------------------------------------------------------------------------- the ops
def arithmetic(x, other, prim):
    """x += other (and -=, *=, /=, add_, ...): numpy's in-place ufunc when nothing is recorded."""
    if type(other) is Tensor and other._data.dtype == x._data.dtype and x._data.flags.writeable and (
            not tape._enabled or not (_requires_grad(x) or _requires_grad(other))):
        try:                                           # the SGD step's fast path: same dtype, nothing
            with quiet():                              # to record; numpy detects a shape that does not
                _UFUNCS[prim](x._data, other._data, out=x._data)     # fit, and the checks below say so
            x._ver[0] += 1
            return x
        except ValueError:
            pass
    tb = other if isinstance(other, Tensor) else None
    y = tb._data if tb is not None else constant(other)
    if y is None:
        raise NotAnOperand(f"unsupported operand type(s) for in-place op: 'Tensor' and '{type(other).__name__}'")
    recording = _recording(x, tb)
    _check(x, recording)
    data = x._data
    if prim is ops.div and data.dtype.kind != "f":
        raise errors.cast_result(dtypes.default_float(), data.dtype)
    try:
        shape = np.broadcast_shapes(data.shape, np.shape(y))
    except ValueError:
        raise errors.broadcast_error(data, y) from None
    if shape != data.shape:
        raise errors.inplace_shape(data.shape, shape)
    _, _, a, b = operands(x, other)
    if a.dtype != data.dtype and dtypes.category(a.dtype) > dtypes.category(data.dtype):
        raise errors.cast_result(a.dtype, data.dtype)
    if not recording:
        with quiet():
            _UFUNCS[prim](data, b, out=data, casting="unsafe")
        x._ver[0] += 1
        return x
    name = _NAMES[prim]
    if not isinstance(b, np.ndarray):                  # a number: the scalar primitive
        prim, b = {ops.add: (ops.add_scalar, b), ops.sub: (ops.add_scalar, -b), ops.mul: (ops.mul_scalar, b),
                   ops.div: (ops.div_scalar, b)}[prim]
    if 0 in prim.saved_args:
        a = a.copy()                                   # the rule keeps x's old values: not x's memory
    with quiet():
        out, rule = prim(a, b)
    return write(x, out, rule, prim, name, (x, tb), 0)


def setitem(x, index, value):
    """x[index] = value (torch's index_put_ / copy_ into a view); the value is cast to x's dtype."""
    tv = value if isinstance(value, Tensor) else None
    v = tv._data if tv is not None else np.asarray(value if constant(value) is not None else value)
    if v.dtype.kind == "O":
        raise TypeError(f"can't assign a {type(value).__name__} to a tensor")
    v = v.astype(x._data.dtype, copy=False)
    recording = _recording(x, tv)
    if recording and x._node is None and x._rg and indexing.selects_a_view(index, x._data.shape):
        raise RuntimeError(errors.VIEW_OF_LEAF_INPLACE)   # torch writes x[0] = v through the view x[0]
    _check(x, recording)
    if not recording:
        indexing.put(x._data, index, v)
        x._ver[0] += 1
        return
    idx, target = indexing.take(x._data, index)
    try:
        np.broadcast_to(v, target.shape)
    except ValueError:
        raise errors.expand_error(v.shape, target.shape) from None
    out, rule = ops.index_put(x._data, v, idx)
    write(x, out, rule, ops.index_put, "torch::autograd::CopySlices" if idx.basic else "IndexPutBackward0", (x, tv), 0)


def fill(x, value, name="FillBackward2"):
    """x.fill_(value), x.zero_(): every element becomes the value; x's old values get no gradient."""
    tv = value if isinstance(value, Tensor) else None
    if tv is not None and tv._data.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {tv._data.ndim} "
                           f"dimensions.")
    return copy(x, tv if tv is not None else _make(np.asarray(value, x._data.dtype)), name)


def copy(x, src, name="CopyBackwards"):
    """x.copy_(src): src broadcast to x's shape and cast to its dtype: dx = 0, dsrc = g."""
    ts = src if isinstance(src, Tensor) else _make(np.asarray(src))
    s = ts._data
    try:
        out = np.broadcast_to(s, x._data.shape).astype(x._data.dtype)
    except ValueError:
        raise errors.expand_error(s.shape, x._data.shape, errors.name(s.dtype)) from None
    recording = _recording(x, ts)
    _check(x, recording)
    if not recording:
        np.copyto(x._data, out, casting="unsafe")
        x._ver[0] += 1
        return x
    return write(x, out, lambda g: (np.zeros_like(g), g), ops.clone, name, (x, ts), 0)


def masked_fill(x, mask, value):
    """x.masked_fill_(mask, value): value where mask, x elsewhere (dx = g outside the mask)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {errors.name(m.dtype)}")
    tv = value if isinstance(value, Tensor) else None
    v = tv._data if tv is not None else np.asarray(value).astype(x._data.dtype)
    recording = _recording(x, tv)
    _check(x, recording)
    m = m.copy() if recording else m                   # the rule keeps the mask: not the caller's memory
    try:
        out, rule = ops.where(m, v.astype(x._data.dtype), x._data)
    except ValueError:
        raise errors.broadcast_error(m, x._data) from None
    _fits(x, out)
    if not recording:
        np.copyto(x._data, out)
        x._ver[0] += 1
        return x
    reorder = lambda g: rule(g)[:0:-1]                 # noqa: E731  where's (dmask, dvalue, dx) as (dx, dvalue)
    return write(x, out, reorder, ops.where, "MaskedFillBackward0", (x, tv), 0)


def clamp(x, lo=None, hi=None):
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    recording = _recording(x)
    _check(x, recording)
    out, rule = ops.clamp(x._data.copy() if recording else x._data, lo, hi)
    _fits(x, out)
    if not recording:
        np.copyto(x._data, out, casting="unsafe")
        x._ver[0] += 1
        return x
    return write(x, out, rule, ops.clamp, "ClampBackward1", (x,), 0)


def fill_from(x, values):
    """x's values replaced by an array drawn outside the graph (normal_, uniform_): dx = 0."""
    return copy(x, _make(values), "NormalBackward0")
