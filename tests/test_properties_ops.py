"""Property-based parity for every op, functional and layer (hypothesis), beyond test_properties.py.

For each entry of OPS, hypothesis draws shapes (0-d, size-1 and EMPTY dims; broadcastable pairs),
a dtype (float32 or float64), values, static arguments (dims, exponents, indices), an input memory
layout for tinytape (C, Fortran, negative strides, non-contiguous, read-only) and a random upstream
gradient. torch runs the same lambda on contiguous copies. Asserted each time:
- forward values and every input gradient match torch in the op's PRECISION.md class, with torch's
  dtypes (outputs and gradients keep the inputs' dtypes);
- a zero upstream gives exactly zero gradients and a doubled upstream exactly doubled gradients;
- no input array is written (read-only inputs would raise), no two gradients share memory, and no
  gradient shares memory with an input or the upstream gradient; nothing is left on the tape.
Runs under the conftest profile: "ci" small and fixed, HYPOTHESIS_PROFILE=dev for many more cases.
"""
import contextlib
import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nn
import tinytape
import tinytape.functional as F
from harness import COMPOSITE, EXACT, REDUCE, ULP, assert_close, broadcast_into, wider
from tinytape import tape

TF = torch.nn.functional
FLOATS = st.sampled_from([np.float32, np.float64])
LAYOUTS = ["c", "fortran", "negative", "strided", "readonly"]


class Fixed:
    """A float array that reaches both engines as a tensor that does not require grad."""

    def __init__(self, a):
        self.a = a


class Buffer(Fixed):
    """A Fixed array the op updates in place (running statistics): compared with torch's after the
    op, and never laid out read-only."""


# ---------------------------------------------------------------------------------- data
def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def values(draw, shape, dtype, lo=-8.0, hi=8.0, away=0.0):
    """Values rounded to 1/1024 (no subnormal products, plenty of exact ties and zeros), optionally
    kept at least `away` from zero."""
    a = draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_subnormal=False)))
    a = np.round(a * 1024) / 1024
    if away:
        a = np.where(np.abs(a) < away, np.where(a < 0, -away, away), a)
    return np.asarray(a, dtype=dtype)


def layout(a, kind):
    """The same values in another memory layout (tinytape's side only)."""
    if kind == "c" or a.ndim == 0:
        b = a.copy()
    elif kind == "fortran":
        b = np.array(a, order="F")
    elif kind == "negative":
        b = np.flip(np.flip(a, 0).copy(), 0)
    elif kind == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        big[..., 1::2] = a
        b = big[..., 1::2]
    else:
        b = a.copy()
        b.flags.writeable = False
    assert b.shape == a.shape and np.array_equal(b, a)
    return b


@contextlib.contextmanager
def strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------------------------- the runner
def _inputs(lib, args, kind):
    out, wrt = [], []
    for a in args:
        if isinstance(a, Fixed):
            k = "c" if isinstance(a, Buffer) and kind == "readonly" else kind
            out.append(tinytape.from_numpy(layout(a.a, k)) if lib is tinytape else torch.tensor(a.a))
        elif isinstance(a, np.ndarray):
            if lib is tinytape:
                t = tinytape.from_numpy(layout(a, kind))
                if a.dtype.kind == "f":
                    t.requires_grad_()
            else:
                t = torch.tensor(a, requires_grad=a.dtype.kind == "f")
            if a.dtype.kind == "f":
                wrt.append(t)
            out.append(t)
        else:
            out.append(a)
    return out, wrt


def _tt(fn, args, kind, up, factor):
    ins, wrt = _inputs(tinytape, args, kind)
    arrays = [np.asarray(t) for t, a in zip(ins, args) if isinstance(t, tinytape.Tensor) and not isinstance(a, Buffer)]
    buffers = [np.asarray(t) for t, a in zip(ins, args) if isinstance(a, Buffer)]
    before = [a.copy() for a in arrays]
    live = {id(n) for n in tape.nodes()}
    with strict():
        out = fn(tinytape, F, *ins)
        if out.requires_grad:
            g = (up * factor).astype(up.dtype)
            out.backward(g)
            np.testing.assert_array_equal(g, (up * factor).astype(up.dtype), err_msg="backward wrote the upstream")
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b, err_msg="an input array was written")
    # backward frees the nodes that saved values; those that saved nothing stay walkable, as torch's
    assert not [n for n in tape.nodes() if id(n) not in live and n.saved is not None], \
        "tape entries that saved values left after backward"
    for t in wrt:
        assert t.grad is None or isinstance(t.grad, tinytape.Tensor), f".grad is a {type(t.grad).__name__}"
    return out, [None if t.grad is None else t.grad.numpy() for t in wrt], arrays, buffers


def _torch(fn, args, up, absolute=False):
    if absolute:
        args = [Fixed(np.array(np.abs(a.a), dtype=a.a.dtype)) if isinstance(a, Fixed) else
                np.array(np.abs(a), dtype=a.dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                for a in args]
        up = np.array(np.abs(up), dtype=up.dtype)
    ins, wrt = _inputs(torch, args, "c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # torch's own notes (x.T on 3-D, var dof)
        out = fn(torch, TF, *ins)
        if out.requires_grad:
            out.backward(torch.from_numpy(up.copy()))
    buffers = [t.numpy() for t, a in zip(ins, args) if isinstance(a, Buffer)]
    return out.detach().numpy(), [None if t.grad is None else t.grad.numpy() for t in wrt], buffers


def parity(fn, args, *, tol, grad_tol=None, kind="c", magnitudes=False, seed=0, fwd_scale=None,
           grad_scale=None):
    """fn(T, F, *tensors) -> one tensor, on tinytape and torch. See the module docstring."""
    grad_tol = grad_tol or tol
    probe = _tt_forward(fn, args)
    up = np.random.default_rng(seed).standard_normal(probe.shape).astype(probe.dtype)
    if up.size > 1:
        assert not np.all(up == up.flat[0])
    ref, ref_grads, ref_buffers = _torch(fn, args, up)
    out, grads, arrays, buffers = _tt(fn, args, kind, up, 1)
    _, zero, _, _ = _tt(fn, args, kind, up, 0)
    _, double, _, _ = _tt(fn, args, kind, up, 2)
    for k, (b, r) in enumerate(zip(buffers, ref_buffers)):
        assert_close(b, r, REDUCE, f"buffer {k}")
    if magnitudes:
        fwd_scale, grad_scales, _ = _torch(fn, args, up, absolute=True)
    else:
        grad_scales = [grad_scale] * len(grads)
    fwd_scale = None if fwd_scale is None or np.size(fwd_scale) == 0 else fwd_scale
    grad_scales = [None if s is None or np.size(s) == 0 else s for s in grad_scales]

    assert_close(out.detach().numpy(), ref, tol, "forward", scale=fwd_scale)
    floats = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    precision = np.float32 if up.dtype == np.float32 else None
    for k, (a, g, r, g0, g2, gs) in enumerate(zip(floats, grads, ref_grads, zero, double, grad_scales)):
        what = f"gradient {k} (shape {a.shape}, {a.dtype})"
        if r is None:
            assert g is None or not np.any(g), f"{what}: torch gives None"
            continue
        assert isinstance(g, np.ndarray) and g.dtype == a.dtype and g.shape == a.shape, what
        cls = wider(grad_tol, REDUCE) if broadcast_into(a.shape, tuple(out.shape)) else grad_tol
        scale = gs
        if cls == ULP and scale is None:
            scale = up if up.shape == g.shape else np.abs(up).max(initial=0)
        assert_close(g, r, cls, what, scale=scale, precision=precision)
        assert not np.any(g0), f"{what}: a zero upstream gradient gave {g0}"
        np.testing.assert_array_equal(g2, 2 * g, err_msg=f"{what}: doubling the upstream did not double it")
    present = [g for g in grads if g is not None]
    for i, g in enumerate(present):
        assert not np.shares_memory(g, up)
        for a in arrays:
            assert not np.shares_memory(g, a), "a gradient shares memory with an input"
        for h in present[i + 1:]:
            assert not np.shares_memory(g, h), "two gradients share memory"
    return out


def _tt_forward(fn, args):
    ins, _ = _inputs(tinytape, args, "c")
    with tinytape.no_grad(), strict():
        return fn(tinytape, F, *ins)


# ---------------------------------------------------------------------------------- the ops
# name -> strategy drawing (fn, args, options for parity)
OPS = {}


def op(name):
    def register(f):
        OPS[name] = st.composite(f)()
        return f
    return register


BINARY = {"add": lambda T, F, x, y: x + y, "sub": lambda T, F, x, y: x - y,
          "mul": lambda T, F, x, y: x * y, "div": lambda T, F, x, y: x / y}


def _binary(name):
    def draw_case(draw):
        sh = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=4))
        da, db = draw(FLOATS), draw(FLOATS)
        a = values(draw, sh.input_shapes[0], da)
        b = values(draw, sh.input_shapes[1], db, away=0.125 if name == "div" else 0.0)
        return BINARY[name], [a, b], dict(tol=EXACT, magnitudes=True)
    return draw_case


for _name in BINARY:
    op(_name)(_binary(_name))


SCALARS = {"x + 2.5": lambda T, F, x: x + 2.5, "3 - x": lambda T, F, x: 3 - x, "x * -1.5": lambda T, F, x: x * -1.5,
           "x / 0.75": lambda T, F, x: x / 0.75, "2 / x": lambda T, F, x: 2 / x, "-x": lambda T, F, x: -x,
           "x * np.float64": lambda T, F, x: x * np.float64(0.3), "+x": lambda T, F, x: +x + 0.0}


@op("scalar-operand")
def _(draw):
    name = draw(st.sampled_from(sorted(SCALARS)))
    x = values(draw, draw(shapes()), draw(FLOATS), away=0.125 if name == "2 / x" else 0.0)
    return SCALARS[name], [x], dict(tol=EXACT)


UNARY = {"exp": (ULP, -8, 8), "log": (ULP, 0.125, 8), "tanh": (ULP, -8, 8), "sqrt": (ULP, 0.125, 8),
         "sigmoid": (ULP, -8, 8), "relu": (EXACT, -8, 8), "abs": (EXACT, -8, 8), "clone": (EXACT, -8, 8)}


def _unary(name):
    cls, lo, hi = UNARY[name]

    def draw_case(draw):
        x = values(draw, draw(shapes()), draw(FLOATS), lo=lo, hi=hi)
        return (lambda T, F, x: getattr(x, name)()), [x], dict(tol=cls)
    return draw_case


for _name in UNARY:
    op(_name)(_unary(_name))


@op("pow")
def _(draw):
    p, cls = draw(st.sampled_from([(2, EXACT), (3, ULP), (-1, ULP), (0.5, ULP), (-0.5, ULP), (1.5, ULP), (0, EXACT)]))
    x = values(draw, draw(shapes()), draw(FLOATS), lo=0.125, hi=4)
    return (lambda T, F, x: x ** p), [x], dict(tol=cls)


@op("rpow")
def _(draw):
    base = draw(st.sampled_from([2.0, 0.5, 10.0]))
    x = values(draw, draw(shapes()), draw(FLOATS), lo=-4, hi=4)
    return (lambda T, F, x: base ** x), [x], dict(tol=ULP)


@op("clamp")
def _(draw):
    lo, hi = draw(st.sampled_from([(-1.0, 1.0), (None, 0.5), (-0.25, None), (0.0, 0.0)]))
    x = values(draw, draw(shapes()), draw(FLOATS), lo=-2, hi=2)
    return (lambda T, F, x: x.clamp(lo, hi)), [x], dict(tol=EXACT)


@op("where")
def _(draw):
    sh = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3))
    c = draw(hnp.arrays(np.bool_, sh.input_shapes[0]))
    dt = draw(FLOATS)
    a, b = values(draw, sh.input_shapes[1], dt), values(draw, sh.input_shapes[2], dt)
    return (lambda T, F, x, y, c: T.where(c, x, y)), [a, b, c], dict(tol=EXACT)


@op("cast")
def _(draw):
    dt = draw(FLOATS)
    x = values(draw, draw(shapes()), dt)
    method = "double" if dt == np.float32 else "float"
    return (lambda T, F, x: getattr(x, method)() * 1.5), [x], dict(tol=EXACT)


def _dims(draw, ndim, allow_none=True):
    kinds = ["int", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds)) if ndim else "none"
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


@op("sum")
def _(draw):
    x = values(draw, draw(shapes()), draw(FLOATS))
    dim, keep = _dims(draw, x.ndim), draw(st.booleans())
    return (lambda T, F, x: x.sum(dim=dim, keepdim=keep)), [x], dict(tol=REDUCE, grad_tol=EXACT, magnitudes=True)


@op("mean")
def _(draw):
    x = values(draw, draw(shapes(min_side=1)), draw(FLOATS))     # (a mean over nothing: test_misuse)
    dim, keep = _dims(draw, x.ndim), draw(st.booleans())
    return (lambda T, F, x: x.mean(dim=dim, keepdim=keep)), [x], dict(tol=REDUCE, grad_tol=EXACT, magnitudes=True)


@op("var-std")
def _(draw):
    x = values(draw, draw(shapes(min_side=1)), draw(FLOATS))
    dim, keep = _dims(draw, x.ndim), draw(st.booleans())
    axes = range(x.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    n = int(np.prod([x.shape[a] for a in axes]))
    correction = draw(st.sampled_from([0, 1])) if n > 1 else 0
    name = draw(st.sampled_from(["var", "std"]))
    big = float(np.abs(x).max()) if x.size else 0.0
    if name == "std":                                     # keep the spread away from 0 (its gradient
        x = np.array(x + np.arange(x.size).reshape(x.shape) % 3, dtype=x.dtype)     # is 1 / std)
        big = float(np.abs(x).max()) if x.size else 0.0
    # near-constant slices cancel to rounding noise in both engines: floors scaled as test_properties
    return (lambda T, F, x: getattr(x, name)(dim=dim, keepdim=keep, correction=correction)), [x], \
        dict(tol=REDUCE, fwd_scale=big * big if name == "var" else big,
             grad_scale=big * 2 * 4 / max(n - correction, 1) * (10 if name == "std" else 1))


@op("max-min-dim")
def _(draw):
    x = values(draw, draw(shapes(min_dims=1, min_side=1)), draw(FLOATS))
    x = np.array(np.round(x), dtype=x.dtype) if draw(st.booleans()) else x   # ties: the first index
    name, dim, keep = draw(st.sampled_from(["max", "min"])), draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.booleans())
    return (lambda T, F, x: getattr(x, name)(dim, keepdim=keep).values), [x], dict(tol=EXACT)


@op("max-min-all")
def _(draw):
    x = values(draw, draw(shapes(min_side=1)), draw(FLOATS))
    x = np.array(np.round(x), dtype=x.dtype)                                  # ties share the gradient
    name = draw(st.sampled_from(["max", "min"]))
    return (lambda T, F, x: getattr(x, name)()), [x], dict(tol=EXACT)


@op("argmax-argmin")
def _(draw):
    x = values(draw, draw(shapes(min_dims=1, min_side=1)), draw(FLOATS))
    name, dim = draw(st.sampled_from(["argmax", "argmin"])), draw(st.integers(-x.ndim, x.ndim - 1))
    return (lambda T, F, x: getattr(x, name)(dim) * 1.0 + x.sum() * 0.0), [x], dict(tol=EXACT)


@op("reshape")
def _(draw):
    shape = draw(shapes(max_dims=4))
    x = values(draw, shape, draw(FLOATS))
    size = x.size
    divisors = [d for d in range(1, size + 1) if size % d == 0] or [1]
    a = draw(st.sampled_from(divisors))
    target = draw(st.sampled_from([(size,), (a, size // a), (-1,), (a, -1) if size else (a, 0), (1, size, 1)]))
    how = draw(st.sampled_from(["reshape", "view"]))
    return (lambda T, F, x: getattr(x, how)(*target)), [x], dict(tol=EXACT)


@op("flatten")
def _(draw):
    x = values(draw, draw(shapes(min_dims=1, max_dims=4)), draw(FLOATS))
    s = draw(st.integers(-x.ndim, x.ndim - 1))
    e = draw(st.integers(s % x.ndim, x.ndim - 1))
    return (lambda T, F, x: x.flatten(s, e)), [x], dict(tol=EXACT)


@op("transpose-permute")
def _(draw):
    x = values(draw, draw(shapes(min_dims=1, max_dims=4)), draw(FLOATS))
    perm = draw(st.permutations(range(x.ndim)))
    a, b = draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.integers(-x.ndim, x.ndim - 1))
    kind = draw(st.sampled_from(["permute", "transpose", "T", "mT"] if x.ndim >= 2 else ["permute", "transpose", "T"]))
    fns = {"permute": lambda T, F, x: x.permute(*perm), "transpose": lambda T, F, x: x.transpose(a, b),
           "T": lambda T, F, x: x.T, "mT": lambda T, F, x: x.mT}
    return fns[kind], [x], dict(tol=EXACT)


@op("squeeze-unsqueeze")
def _(draw):
    x = values(draw, draw(shapes(max_side=2)), draw(FLOATS))
    n = x.ndim
    kind = draw(st.sampled_from(["unsqueeze", "squeeze", "squeeze-dim"] if n else ["unsqueeze", "squeeze"]))
    d = draw(st.integers(-n - 1, n)) if kind == "unsqueeze" else draw(st.integers(-n, n - 1)) if n else 0
    fns = {"unsqueeze": lambda T, F, x: x.unsqueeze(d), "squeeze": lambda T, F, x: x.squeeze(),
           "squeeze-dim": lambda T, F, x: x.squeeze(d)}
    return fns[kind], [x], dict(tol=EXACT)


@op("expand")
def _(draw):
    sh = draw(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3, min_side=0, max_side=3))
    x = values(draw, sh.input_shapes[0], draw(FLOATS))
    target = tuple(sh.result_shape)
    lead = len(target) - x.ndim
    spec = tuple(-1 if i >= lead and draw(st.booleans()) else n for i, n in enumerate(target))
    return (lambda T, F, x: x.expand(spec) * 1.0), [x], dict(tol=EXACT, grad_tol=REDUCE)


@op("cat-stack")
def _(draw):
    base = draw(shapes(min_dims=1))
    dt, k = draw(FLOATS), draw(st.integers(1, 3))
    name = draw(st.sampled_from(["cat", "stack"]))
    if name == "cat":
        dim = draw(st.integers(-len(base), len(base) - 1))
        xs = [values(draw, base[:dim % len(base)] + (draw(st.integers(0, 3)),) + base[dim % len(base) + 1:], dt)
              for _ in range(k)]
    else:
        dim = draw(st.integers(-len(base) - 1, len(base)))
        xs = [values(draw, base, dt) for _ in range(k)]
    return (lambda T, F, *xs: getattr(T, name)(list(xs), dim)), xs, dict(tol=EXACT)


@op("index")
def _(draw):
    kind = draw(st.sampled_from(["int", "slice", "array", "mask", "array-2d", "ellipsis"]))
    advanced = kind in ("array", "mask", "array-2d")      # (on 2-D and up, where layouts differ)
    x = values(draw, draw(shapes(min_dims=2 if advanced else 1, min_side=1)), draw(FLOATS))
    n = x.shape[0]
    if kind == "int":
        i = draw(st.integers(-n, n - 1))
        return (lambda T, F, x: x[i]), [x], dict(tol=EXACT)
    if kind == "slice":
        s = slice(draw(st.none() | st.integers(-n, n)), draw(st.none() | st.integers(-n, n)),
                  draw(st.none() | st.integers(1, 3)))
        return (lambda T, F, x: x[s]), [x], dict(tol=EXACT)
    if kind == "ellipsis":
        j = draw(st.integers(0, x.shape[-1] - 1))
        return (lambda T, F, x: x[..., j]), [x], dict(tol=EXACT)
    if kind == "mask":
        m = draw(hnp.arrays(np.bool_, (n,)))
        return (lambda T, F, x, m: x[m]), [x, m], dict(tol=EXACT)
    shape = (draw(st.integers(0, 5)),) if kind == "array" else (draw(st.integers(0, 3)), draw(st.integers(1, 3)))
    idx = draw(hnp.arrays(np.int64, shape, elements=st.integers(-n, n - 1)))     # repeats and negatives
    return (lambda T, F, x, i: x[i]), [x, idx], dict(tol=EXACT, grad_tol=REDUCE)


@op("matmul")
def _(draw):
    sh = draw(hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=4, min_side=0,
                                                 max_side=4))
    dt = draw(FLOATS)
    a, b = values(draw, sh.input_shapes[0], dt), values(draw, sh.input_shapes[1], dt)
    return (lambda T, F, x, y: x @ y), [a, b], dict(tol=REDUCE, magnitudes=True)


@op("addmm")
def _(draw):
    m, k, n, dt = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(FLOATS)
    bias = draw(st.sampled_from([(n,), (1, n), (m, n), (), (m, 1)]))       # broadcast into (m, n)
    b, x, w = values(draw, bias, dt), values(draw, (m, k), dt), values(draw, (k, n), dt)
    return (lambda T, F, b, x, w: T.addmm(b, x, w)), [b, x, w], dict(tol=REDUCE, magnitudes=True)


# ---------------------------------------------------------------------------------- functional
@op("softmax-log_softmax")
def _(draw):
    x = values(draw, draw(shapes(min_dims=1)), draw(FLOATS))
    dim, name = draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.sampled_from(["softmax", "log_softmax"]))
    return (lambda T, F, x: getattr(F, name)(x, dim)), [x], dict(tol=COMPOSITE)


@op("cross_entropy")
def _(draw):
    n, c = draw(st.integers(0, 6)), draw(st.integers(1, 6))
    x = values(draw, (n, c), draw(FLOATS))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    red = draw(st.sampled_from(["mean", "sum", "none"]))
    single = n == 1 and draw(st.booleans())
    if single:                                            # (C,) logits and a 0-d target
        return (lambda T, F, x, y: F.cross_entropy(x, y, reduction=red)), [x[0], np.array(y[0])], dict(tol=COMPOSITE)
    return (lambda T, F, x, y: F.cross_entropy(x, y, reduction=red)), [x, y], dict(tol=COMPOSITE)


@op("nll_loss")
def _(draw):
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = values(draw, (n, c), draw(FLOATS))
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    red = draw(st.sampled_from(["mean", "sum", "none"]))
    return (lambda T, F, x, y: F.nll_loss(F.log_softmax(x, 1), y, reduction=red)), [x, y], dict(tol=COMPOSITE)


@op("one_hot")
def _(draw):
    c = draw(st.integers(1, 5))
    idx = draw(hnp.arrays(np.int64, draw(shapes(max_dims=2)), elements=st.integers(0, c - 1)))
    x = values(draw, idx.shape + (c,), draw(FLOATS))
    return (lambda T, F, x, i: x * F.one_hot(i, c)), [x, idx], dict(tol=EXACT)


@op("embedding")
def _(draw):
    v, d = draw(st.integers(1, 6)), draw(st.integers(0, 4))
    w = values(draw, (v, d), draw(FLOATS))
    idx = draw(hnp.arrays(np.int64, draw(shapes(max_dims=2)), elements=st.integers(0, v - 1)))
    return (lambda T, F, w, i: F.embedding(i, w)), [w, idx], dict(tol=EXACT, grad_tol=REDUCE, magnitudes=True)


@op("linear")
def _(draw):
    lead = draw(shapes(max_dims=2))
    i, o, dt = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(FLOATS)
    x, w = values(draw, lead + (i,), dt), values(draw, (o, i), dt)
    if draw(st.booleans()):
        b = values(draw, (o,), dt)
        return (lambda T, F, x, w, b: F.linear(x, w, b)), [x, w, b], dict(tol=REDUCE, magnitudes=True)
    return (lambda T, F, x, w: F.linear(x, w)), [x, w], dict(tol=REDUCE, magnitudes=True)


@op("mse_loss")
def _(draw):
    dt = draw(FLOATS)
    shape = draw(shapes(min_side=1))
    x, y = values(draw, shape, dt), values(draw, shape, dt)
    red = draw(st.sampled_from(["mean", "sum"]))
    target = Fixed(y) if draw(st.booleans()) else y
    return (lambda T, F, x, y: F.mse_loss(x, y, reduction=red)), [x, target], dict(tol=COMPOSITE, magnitudes=True)


@op("batch_norm")
def _(draw):
    n, c, dt = draw(st.sampled_from([0, 2, 3, 5, 8])), draw(st.integers(1, 4)), draw(FLOATS)
    x = values(draw, (n, c), dt) + np.arange(n * c, dtype=dt).reshape(n, c) % 3     # spread: var well above 0
    x = np.array(x, dtype=dt)
    w, b = values(draw, (c,), dt), values(draw, (c,), dt)
    training, momentum = draw(st.booleans()), draw(st.sampled_from([0.1, 0.5, 1.0]))
    rm, rv = Buffer(values(draw, (c,), dt)), Buffer(values(draw, (c,), dt, lo=0.5, hi=2))
    if not training and n == 0:
        training = True
    # dx is gain * var_inv / n * (n g - sum g - raw (g raw).sum): with two rows the bracket cancels to
    # an eps effect, so its floor is relative to the terms, |gain| var_inv |g| (|g| < 4 here)
    var = x.astype(np.float64).var(0) if training and n else rv.a.astype(np.float64)
    terms = 4 * max(float(np.abs(w).max()), 1.0) * float((1 / np.sqrt(var + 1e-5)).max(initial=1.0))
    # torch's forward is x * (gain var_inv) + (bias - mean gain var_inv): rounding noise of |x| times that
    # scale where a constant feature normalises to exactly 0 in tinytape (x - mean first)
    scale = float(np.abs(x).max(initial=0)) * terms / 4 + float(np.abs(b).max())
    return (lambda T, F, x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training, momentum)), [x, w, b, rm, rv], \
        dict(tol=COMPOSITE, grad_scale=terms, fwd_scale=scale)


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("name", OPS)
@settings(max_examples=max(4, settings().max_examples // len(LAYOUTS)))     # the profile's budget per op
@given(data=st.data())
def test_op_parity(name, kind, data):
    fn, args, opts = data.draw(OPS[name], label="case")
    parity(fn, args, kind=kind, seed=data.draw(st.integers(0, 3), label="upstream"), **opts)


# ---------------------------------------------------------------------------------- layers
def _torch_linear(layer, dtype):
    t = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=dtype)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(np.asarray(layer.weight).T.copy()))
        if layer.bias is not None:
            t.bias.copy_(torch.from_numpy(np.asarray(layer.bias)))
    return t


def _torch_bn(layer, dtype):
    t = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                             track_running_stats=layer.track_running_stats, dtype=dtype)
    with torch.no_grad():
        if layer.affine:
            t.weight.copy_(torch.from_numpy(np.asarray(layer.weight)))
            t.bias.copy_(torch.from_numpy(np.asarray(layer.bias)))
        if layer.track_running_stats:
            t.running_mean.copy_(torch.from_numpy(np.asarray(layer.running_mean)))
            t.running_var.copy_(torch.from_numpy(np.asarray(layer.running_var)))
    return t


@st.composite
def layer_stack(draw):
    """A random Sequential of the nn layers and its torch twin, with an input batch."""
    dt = draw(FLOATS)
    seed = draw(st.integers(0, 2**16))
    g = np.random.default_rng(seed)
    vocab, block, emb = draw(st.integers(3, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.sampled_from([0, 2, 3, 5]))
    layers = [nn.Embedding(vocab, emb, generator=g, dtype=dt), nn.Flatten()]
    width = block * emb
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(1, 5))
        layers.append(nn.Linear(width, out, bias=draw(st.booleans()), generator=g, dtype=dt))
        if draw(st.booleans()):
            bn = nn.BatchNorm1d(out, momentum=draw(st.sampled_from([0.1, 0.5, None])), affine=draw(st.booleans()),
                                track_running_stats=draw(st.booleans()), dtype=dt)
            if bn.affine:
                bn.weight.data[...] = g.uniform(0.5, 1.5, out)
                bn.bias.data[...] = g.standard_normal(out)
            layers.append(bn)
        layers.append(nn.Tanh())
        width = out
    classes = draw(st.integers(1, 4))               # a last Linear: gradients before a batchnorm can be
    layers.append(nn.Linear(width, classes, generator=g, dtype=dt))   # pure rounding noise, compared
    width = classes                                 # against the model's largest gradient
    model = nn.Sequential(*layers)
    X = draw(hnp.arrays(np.int64, (n, block), elements=st.integers(0, vocab - 1)))
    for k in range(1, min(n, 3)):     # distinct examples: with one or two distinct rows, batchnorm's
        X[k, 0] = (X[0, 0] + k) % vocab  # output is a fixed pattern (a variance of 0; +-1 for two), and
                                         # every gradient before it is rounding noise in both engines
                                         # (n = 2 itself: see the test)
    Y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, width - 1)))
    train = draw(st.booleans()) or n == 0
    return model, X, Y, train, seed


def _torch_twin(model, dtype):
    """The model in torch.nn, with copies of its values, in `dtype`."""
    out = []
    for m in model:
        if isinstance(m, nn.Embedding):
            t = torch.nn.Embedding(m.num_embeddings, m.embedding_dim, dtype=dtype)
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(np.asarray(m.weight)))
        elif isinstance(m, nn.Linear):
            t = _torch_linear(m, dtype)
        elif isinstance(m, nn.BatchNorm1d):
            t = _torch_bn(m, dtype)
        elif isinstance(m, nn.Flatten):
            t = torch.nn.Flatten()
        else:
            t = torch.nn.Tanh()
        out.append(t)
    return torch.nn.Sequential(*out)


def assert_as_accurate(actual, ref, truth, what, scale):
    """tinytape within the composite class of torch's float64 result, widened by 4 times torch's
    own error in the test's dtype: where a batchnorm amplifies rounding (a variance near eps, a
    batch of two whose normalised values are +-1 whatever came before) both engines are noisy,
    and tinytape must be no noisier than torch."""
    actual, ref, truth = np.asarray(actual), np.asarray(ref), np.asarray(truth)
    assert actual.shape == truth.shape and actual.dtype == ref.dtype, what
    rtol, floor, atol = (1e-4, 1e-5, 1e-7) if actual.dtype == np.float32 else (1e-10, 1e-12, 0.0)
    t64 = truth.astype(np.float64)
    bound = 4 * np.abs(ref.astype(np.float64) - t64) + rtol * np.abs(t64) + floor * scale + atol
    diff = np.abs(actual.astype(np.float64) - t64)
    bad = diff > bound
    assert not bad.any(), (f"{what}: {int(bad.sum())} of {bad.size} off; worst: tinytape {actual.flat[np.argmax(diff - bound)]!r} "
                           f"torch {ref.flat[np.argmax(diff - bound)]!r} float64 {t64.flat[np.argmax(diff - bound)]!r}")


@given(layer_stack(), st.integers(0, 3))
def test_layers_and_sequential_parity(case, steps):
    """Embedding, Flatten, Linear (with and without bias), BatchNorm1d (momentum, affine, running
    statistics on or off; batches of 0, 2, 3, 5), Tanh in a random Sequential, trained a few SGD
    steps side by side with torch.nn: losses, every gradient, parameters and buffers."""
    model, X, Y, train, seed = case
    note(f"model seed {seed}")
    _condition(model, X, train)
    dtype = model[0].weight.dtype
    twins = [_torch_twin(model, torch.from_numpy(np.zeros(0, dtype)).dtype), _torch_twin(model, torch.float64)]
    model.train(train)
    params = model.parameters()
    t_params = [list(t.parameters()) for t in twins]
    assert len(params) == len(t_params[0])
    for t in twins:
        t.train(train)
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    first_bn = next((i for i, m in enumerate(model) if isinstance(m, nn.BatchNorm1d)
                     and (train or not m.track_running_stats)), 0)
    before_bn = {id(p) for m in list(model)[:first_bn] for p in m.parameters()}
    for step in range(steps + 1):
        with strict():
            loss = F.cross_entropy(model(X), Y)
            for p in params:
                p.grad = None
            loss.backward()
        t_losses, refs = [], []
        for t, tps in zip(twins, t_params):
            t_loss = TF.cross_entropy(t(X_t), Y_t)
            t.zero_grad()
            t_loss.backward()
            t_losses.append(t_loss.detach().numpy())
            grads = [tp.grad.numpy() if tp.grad is not None else np.zeros(tuple(tp.shape)) for tp in tps]
            refs.append([g.T if p.ndim == 2 and isinstance(_owner(model, p), nn.Linear) else g
                         for p, g in zip(params, grads)])
        assert_as_accurate(loss.detach().numpy(), *t_losses, f"loss at step {step}", scale=0.0)
        # a bias before a batchnorm has a true gradient of 0 (rounding noise in both engines): the
        # absolute floor of every gradient is relative to the model's largest gradient (PRECISION.md)
        scale = max(np.abs(r).max(initial=0) for r in refs[1])
        for k, (p, ref, truth) in enumerate(zip(params, *refs)):
            assert isinstance(p.grad, tinytape.Tensor) and p.grad.dtype == dtype and p.grad.shape == p.shape
            assert np.isfinite(p.grad.numpy()).all()
            if len(X) == 2 and id(p) in before_bn:
                continue          # a batchnorm of two rows gives +-1 whatever came before: these true
                                  # gradients are eps effects, below both engines' rounding
            assert_as_accurate(p.grad.numpy(), ref, truth, f"gradient of parameter {k} at step {step}", scale)
        with tinytape.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        with torch.no_grad():
            for tps in t_params:
                for tp in tps:
                    tp -= 0.1 * tp.grad
    for (name, b), (_, tb), (_, tb64) in zip(model.named_buffers(), *(t.named_buffers() for t in twins)):
        if b.dtype.kind != "f":
            np.testing.assert_array_equal(b.numpy(), tb.numpy(), err_msg=name)
        else:
            assert_as_accurate(b.numpy(), tb.numpy(), tb64.numpy(), name, 0.0)


def _condition(model, X, train, least=1e-2):
    """Scale the Linear before each BatchNorm1d so that every feature's batch variance is at least
    `least` (1000 eps). Where a variance comes within ~10 eps, the gradient through eps is a
    cancellation that torch's CPU kernel accumulates in double and tinytape's lecture formula in
    float32 (on purpose: bit-identical to a learner's numpy): there the two differ by up to ~1e-3
    relative, a precision gap of the formula, not a parity question (docs/testing.md)."""
    if len(X) < 2:
        return
    h = None
    for i, m in enumerate(model):
        if isinstance(m, nn.Embedding):
            h = np.asarray(m.weight).astype(np.float64)[X]
        elif isinstance(m, nn.Flatten):
            h = h.reshape(h.shape[0], -1)
        elif isinstance(m, nn.Linear):
            h = h @ np.asarray(m.weight).astype(np.float64) + (0 if m.bias is None else np.asarray(m.bias))
        elif isinstance(m, nn.BatchNorm1d):
            if train or not m.track_running_stats:
                var = h.var(0)
                lin = model[i - 1]
                grow = np.where((var > 0) & (var < least), np.sqrt(least / np.where(var > 0, var, 1)), 1.0)
                lin.weight.data[...] *= grow.astype(lin.weight.dtype)
                if lin.bias is not None:
                    lin.bias.data[...] *= grow.astype(lin.bias.dtype)
                h = h * grow
                h = (h - h.mean(0)) / np.sqrt(h.var(0) + m.eps)
            else:
                h = (h - np.asarray(m.running_mean)) / np.sqrt(np.asarray(m.running_var) + m.eps)
            if m.affine:
                h = h * np.asarray(m.weight) + np.asarray(m.bias)
        else:
            h = np.tanh(h)


def _owner(model, p):
    return next(m for m in model.modules() if any(q is p for q in m._parameters.values()))
