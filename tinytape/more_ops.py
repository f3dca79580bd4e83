"""The primitives the later lectures add (makemore's RNN, GRU and Transformer, "Let's build GPT"):
more elementwise math, activations, losses, triangular masks, sorting, scans and products.

Written as ops.py is, and read the same way: numpy arrays in (promoted and checked by the front,
api_more.py and functional.py), `(out, rule)` out, each rule right under its forward; rules never
think about broadcasting, never write into `g` or a saved array, and `saves=` names what they
keep. Conventions are torch's and stand beside the rule they belong to. (One blank line between
primitives: the file is a table.)
"""
import math

import numpy as np

from .ops import forward_sum, primitive
from .shapes import unsqueeze_axes

_erf = np.frompyfunc(math.erf, 1, 1)                    # the C library's erf, as torch's, per element
_SQRT1_2, _2_SQRTPI = math.sqrt(0.5), 2 / math.sqrt(math.pi)

# ---------------------------------------------------------------------------------- elementwise
@primitive(saves="x")
def sin(x):
    """sin x: dx = cos(x) * g"""
    return np.sin(x), lambda g: (np.cos(x) * g,)

@primitive(saves="x")
def cos(x):
    """cos x: dx = -sin(x) * g"""
    return np.cos(x), lambda g: (-np.sin(x) * g,)

@primitive(saves="out")
def rsqrt(x):
    """1 / sqrt x: dx = -0.5 * g * out**3, reusing the output"""
    out = 1 / np.sqrt(x)
    return out, lambda g: (-0.5 * g * (out * out * out),)

@primitive(saves="x")
def log1p(x):
    """log(1 + x), exact for small x: dx = g / (x + 1)"""
    return np.log1p(x), lambda g: (g / (x + 1),)

@primitive(saves="x")
def erf(x):
    """The error function: dx = 2/sqrt(pi) * exp(-x**2) * g"""
    return np.asarray(_erf(x), x.dtype), lambda g: (_2_SQRTPI * np.exp(-(x * x)) * g,)

@primitive(saves="x")
def silu(x):
    """x * sigmoid(x) (SiLU, swish): dx = g * s * (1 + x * (1 - s)) with s = sigmoid(x)"""
    def rule(g):
        s = 1 / (1 + np.exp(-x))
        return (g * s * (1 + x * (1 - s)),)
    return x / (1 + np.exp(-x)), rule

@primitive(saves="x")
def gelu(x, approximate):
    """x * Phi(x), Phi the normal CDF (GELU). "none": dx = g * (Phi(x) + x * phi(x)), phi the
    normal density; "tanh" (GPT-2's 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))): the
    derivative of that formula, grouped as torch groups it."""
    if approximate == "tanh":
        beta, kappa = math.sqrt(2) * _2_SQRTPI * 0.5, 0.044715
        inner_tanh = np.tanh(beta * (x + kappa * (x * x * x)))

        def rule(g):
            left, right = 0.5 * x, 1 + inner_tanh
            return (g * (0.5 * right + left * (1 - inner_tanh * inner_tanh) * beta * (1 + 3 * kappa * (x * x))),)
        return 0.5 * x * (1 + inner_tanh), rule
    cdf = 0.5 * (1 + np.asarray(_erf(x * _SQRT1_2), x.dtype))
    return x * cdf, lambda g: (g * (cdf + x * (_2_SQRTPI * _SQRT1_2 * 0.5 * np.exp(x * x * -0.5))),)

@primitive(saves="x y")
def maximum(x, y):
    """The larger of x and y: g goes to the larger one, and half to each on a tie (as torch)"""
    def rule(g):
        tie = np.where(x == y, g / 2, g)
        return np.where(x < y, 0, tie), np.where(x > y, 0, tie)
    return np.maximum(x, y), rule

@primitive(saves="x y")
def minimum(x, y):
    """The smaller of x and y: g goes to the smaller one, and half to each on a tie"""
    def rule(g):
        tie = np.where(x == y, g / 2, g)
        return np.where(x > y, 0, tie), np.where(x < y, 0, tie)
    return np.minimum(x, y), rule

@primitive(saves="x y")
def remainder(x, y):
    """x % y with the divisor's sign (Python's and torch's, not C's fmod): dx = g,
    dy = -g * floor(x / y)"""
    return np.remainder(x, y), lambda g: (g, -g * np.floor_divide(x, y))

# ---------------------------------------------------------------------------------- shape
@primitive()
def tril(x, diagonal):
    """The lower triangle (the causal mask's shape), the rest 0: dx = tril(g)"""
    return np.tril(x, diagonal), lambda g: (np.tril(g, diagonal),)

@primitive()
def triu(x, diagonal):
    """The upper triangle, the rest 0: dx = triu(g)"""
    return np.triu(x, diagonal), lambda g: (np.triu(g, diagonal),)

@primitive()
def roll(x, shifts, axes):
    """Elements shifted along axes, wrapping around (axes None: the flattened array): dx = g
    rolled back"""
    back = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
    return np.roll(x, shifts, axes), lambda g: (np.roll(g, back, axes),)

@primitive()
def repeat(x, reps):
    """x tiled reps times along each dim (torch's repeat, numpy's tile): dx = the sum of g's tiles"""
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    split = tuple(n for pair in zip(reps, shape) for n in pair)     # (r0, s0, r1, s1, ...)
    back = x.shape

    def rule(g):
        return (g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(back),)
    return np.tile(x.reshape(shape), reps), rule

# ---------------------------------------------------------------------------------- scans, products, norms
def _cumsum(x, axis):
    """torch adds a float32 scan up in float64 and rounds each partial sum once."""
    if x.dtype == np.float32:
        return np.cumsum(x, axis, dtype=np.float64).astype(np.float32)
    return np.cumsum(x, axis)

@primitive()
def cumsum(x, axis):
    """Running sums along axis: dx = the running sums of g taken from the end"""
    return _cumsum(x, axis), lambda g: (np.flip(_cumsum(np.flip(g, axis), axis), axis),)

@primitive(saves="x out")
def prod(x, axes, keepdim):
    """The product over axes: dx = g * out / x, or where x holds zeros, g times the product of
    the others (exclusive running products from both ends: no 0/0)"""
    out = np.prod(x, axis=axes, keepdims=keepdim)

    def rule(g):
        g = unsqueeze_axes(g, axes, keepdim)
        if not (x == 0).any():
            return (g * (unsqueeze_axes(out, axes, keepdim) / x),)
        ends = tuple(range(x.ndim - len(axes), x.ndim))
        moved = np.moveaxis(x, axes, ends)
        flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        left = np.concatenate([ones, np.cumprod(flat[..., :-1], -1)], -1)
        right = np.concatenate([np.cumprod(flat[..., :0:-1], -1)[..., ::-1], ones], -1)
        others = np.moveaxis((left * right).reshape(moved.shape), ends, axes)
        return (g * others,)
    return out, rule

@primitive(saves="x out")
def norm(x, p, axes, keepdim):
    """The p-norm over axes, (sum |x|**p)**(1/p): dx = x * |x|**(p-2) * g / out**(p-1); for p = 2,
    dx = x * g / out; p = 1: sign(x) * g; p = inf: sign(x) * g shared evenly among the largest |x|;
    0 where out is 0 (torch's conventions)"""
    a = np.abs(x)
    if p == np.inf:
        out = a.max(axis=axes, keepdims=keepdim, initial=0)
    elif p == 1:
        out = forward_sum(a, axes, keepdim)
    elif p == 2:
        out = np.sqrt(forward_sum(x * x, axes, keepdim))
    else:
        out = forward_sum(a ** p, axes, keepdim) ** (1 / p)

    def rule(g):
        g, o = unsqueeze_axes(g, axes, keepdim), unsqueeze_axes(out, axes, keepdim)
        if p == 1:
            return (np.sign(x) * g,)
        if p == np.inf:
            hit = a == o
            return (np.sign(x) * ((g / hit.sum(axis=axes, keepdims=True)) * hit),)
        scale = np.where(o == 0, 0, g / o) if p == 2 else np.where(o == 0, 0, g / o ** (p - 1))
        return (x * scale,) if p == 2 else (x * a ** (p - 2) * scale,)
    return out, rule

@primitive(saves="x out")
def amax(x, axes, keepdim):
    """The largest value over axes: dx = g shared evenly among ties (as torch's amax)"""
    out = x.max(axis=axes, keepdims=keepdim)
    return out, lambda g: _share(x, out, g, axes, keepdim)

@primitive(saves="x out")
def amin(x, axes, keepdim):
    """The smallest value over axes: dx = g shared evenly among ties"""
    out = x.min(axis=axes, keepdims=keepdim)
    return out, lambda g: _share(x, out, g, axes, keepdim)

def _share(x, out, g, axes, keepdim):
    hit = x == unsqueeze_axes(out, axes, keepdim)
    return ((unsqueeze_axes(g, axes, keepdim) / hit.sum(axis=axes, keepdims=True)) * hit,)

# ---------------------------------------------------------------------------------- sorting
def _order(x, axis, descending):
    """Positions that sort x along axis; ties keep their order (a stable sort, as torch's CPU
    sort), also in descending order: sort the reversed x ascending, read it backwards."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    return x.shape[axis] - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)

def _select(x, idx, axis):
    """(values, indices) read at idx along axis; dx = g put back at idx."""
    shape, dtype = x.shape, x.dtype

    def rule(g):
        dx = np.zeros(shape, dtype)
        np.put_along_axis(dx, idx, g, axis)
        return (dx,)
    return (np.take_along_axis(x, idx, axis), idx.astype(np.int64)), rule

@primitive(saves="index")
def sort(x, axis, descending):
    """(values, indices) sorted along axis: dx = g put back where each value came from"""
    return _select(x, _order(x, axis, descending), axis)

@primitive(saves="index")
def topk(x, k, axis, largest):
    """The k largest (smallest) along axis, (values, indices), largest first: dx = g put back
    where each value came from, 0 elsewhere"""
    return _select(x, np.take(_order(x, axis, largest), np.arange(k), axis), axis)

# ---------------------------------------------------------------------------------- losses
@primitive()
def nll_loss(logp, target, ignore_index, reduction):
    """-logp[i, target_i] over (N, C, d...) log-probabilities (class dim 1), targets equal to
    ignore_index left out: dlogp = -g at each target (the mean: -g / the number kept)"""
    lp = np.moveaxis(logp, 1, -1)                          # (N, d..., C)
    keep = target != ignore_index
    t = np.where(keep, target, 0)[..., None]
    losses = np.where(keep, -np.take_along_axis(lp, t, -1)[..., 0], 0).astype(logp.dtype)
    count = keep.sum()
    out = losses.sum() / count if reduction == "mean" else losses.sum() if reduction == "sum" else losses
    shape, dtype = lp.shape, logp.dtype

    def rule(g):
        w = -g / count if reduction == "mean" else -g
        d = np.zeros(shape, dtype)
        np.put_along_axis(d, t, np.where(keep, w, 0)[..., None], -1)
        return (np.moveaxis(d, -1, 1),)
    return np.asarray(out, logp.dtype), rule

@primitive(saves="x y")
def mse_loss(x, y, reduction):
    """(x - y)**2, its mean or sum: dx = 2 * (x - y) * g (the mean: 2 / n * ...), dy = -dx"""
    d = x - y
    sq = d * d
    out = forward_sum(sq, tuple(range(sq.ndim)), False) / sq.size if reduction == "mean" else \
        forward_sum(sq, tuple(range(sq.ndim)), False) if reduction == "sum" else sq

    def rule(g):
        dx = (2.0 / d.size if reduction == "mean" else 2.0) * d * g
        return dx, -dx
    return np.asarray(out, sq.dtype), rule
