"""Every primitive: its forward in numpy and, right under it, its backward rule. Nothing else.

Read it top to bottom like the lecture's exercise 1. A primitive takes numpy arrays (already
promoted and checked by the front, `api.py`) and static arguments, and returns `(out, rule)`;
`rule(g)` gets g = dloss/dout and returns dloss/dinput for each array input, written as the
lecture writes it (`dprobs = (1.0 / probs) * dlogprobs`), so that a learner's hand-written numpy
and the tape agree to the last bit. Rules:
- never think about broadcasting: the engine sums each gradient back to its input's shape;
- never write into `g` or into a saved array (a gradient may be shared);
- save only what they need, and prefer the output (`exp`, `tanh`); `@primitive(saves=...)` names
  what the rule keeps, so that the engine can refuse a backward through a value written in place
  since (torch's version check) and can run a rule that keeps nothing twice;
- are first order, in raw numpy: there is no double backward.
Conventions are torch's and stand beside the rule they belong to. `python -m tinytape.derivatives`
prints the table of every primitive and its rule. (One blank line between primitives: the file
is a table.)
"""
import numpy as np

from .registry import PRIMITIVES, primitive  # noqa: F401  (the table of every primitive)
from .shapes import unsqueeze_axes

# ---------------------------------------------------------------------------------- arithmetic
@primitive()
def add(x, y):
    """x + y: dx = g, dy = g   (lecture: `db2 = dlogits.sum(0)`; the engine does the sum)"""
    return x + y, lambda g: (g, g)

@primitive()
def sub(x, y):
    """x - y: dx = g, dy = -g   (lecture: `dbnmeani = (-dbndiff).sum(0)`)"""
    return x - y, lambda g: (g, -g)

@primitive(saves="x y")
def mul(x, y):
    """x * y: dx = y * g, dy = x * g   (lecture: `dcounts_sum_inv = (counts * dprobs).sum(1)`)"""
    return x * y, lambda g: (y * g, x * g)

@primitive(saves="y out")
def div(x, y):
    """x / y: dx = g / y, dy = -g * (out / y)   (grouped as torch groups it: the same bits)"""
    out = x / y
    return out, lambda g: (g / y, -g * (out / y))

@primitive()
def add_scalar(x, s):
    """x + s for a number s: dx = g"""
    return x + s, lambda g: (g,)

@primitive()
def rsub_scalar(x, s):
    """s - x for a number s: dx = -g"""
    return s - x, lambda g: (-g,)

@primitive()
def mul_scalar(x, s):
    """x * s for a number s: dx = s * g   (lecture: `dlogprobs[range(n), Yb] = -1.0/n`)"""
    return x * s, lambda g: (s * g,)

@primitive()
def div_scalar(x, s):
    """x / s for a number s: dx = g / s"""
    return x / s, lambda g: (g / s,)

@primitive(saves="x")
def rdiv_scalar(x, s):
    """s / x for a number s, computed as torch does, s * (1/x): dx = -(g * s) * (1/x)**2"""
    r = np.reciprocal(x)
    return r * s, lambda g: (-(g * s) * (r * r),)

@primitive()
def neg(x):
    """-x: dx = -g"""
    return np.negative(x), lambda g: (-g,)

@primitive(saves="x")
def pow_scalar(x, p):
    """x ** p for a number p: dx = p * x**(p-1) * g   (lecture: `dbnvar = (-0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv`)"""
    if p == 0:
        return x ** p, lambda g: (np.zeros_like(g),)
    return x ** p, lambda g: (p * x ** (p - 1) * g,)

@primitive(saves="out")
def rpow_scalar(x, base):
    """base ** x for a number base: dx = out * log(base) * g"""
    out = np.power(base, x)
    log_base = np.log(np.asarray(base, out.dtype))
    return out, lambda g: (out * log_base * g,)

@primitive(saves="x y")
def matmul(x, y):
    """x @ y: dx = g @ y.T, dy = x.T @ g   (lecture: `dh = dlogits @ W2.T`, `dW2 = h.T @ dlogits`)"""
    if x.ndim == 2 and y.ndim == 2:                     # the lecture's case
        return x @ y, lambda g: (g @ y.T, x.T @ g)
    if x.ndim == 1 and y.ndim == 1:                     # a dot product
        return x @ y, lambda g: (g * y, g * x)
    if x.ndim > 2 and y.ndim == 2:                      # rows of a stack @ a matrix: one product (torch folds too)
        x2, n = x.reshape(-1, x.shape[-1]), y.shape[1]
        return (x2 @ y).reshape(*x.shape[:-1], n), lambda g: (
            (g.reshape(-1, n) @ y.T).reshape(x.shape), x2.T @ g.reshape(-1, n))
    xx, yy = (x[None, :] if x.ndim == 1 else x), (y[:, None] if y.ndim == 1 else y)   # vectors: a row, a column
    def rule(g):
        gg = g[..., None, :] if x.ndim == 1 else g
        gg = gg[..., None] if y.ndim == 1 else gg
        dx = gg @ np.swapaxes(yy, -1, -2)               # the engine sums broadcast batch dims
        dy = np.swapaxes(xx, -1, -2) @ gg
        return (dx[..., 0, :] if x.ndim == 1 else dx), (dy[..., 0] if y.ndim == 1 else dy)
    return x @ y, rule

@primitive(saves="x w")
def addmm(b, x, w):
    """b + x @ w as one op (nn.Linear, the lecture's `hprebn = embcat @ W1 + b1`): db = g,
    dx = g @ w.T, dw = x.T @ g"""
    out = x @ w
    out += b                                            # in place: x @ w is a new array
    return out, lambda g: (g, g @ w.T, x.T @ g)

# ---------------------------------------------------------------------------------- elementwise
@primitive(saves="out")
def exp(x):
    """e^x: dx = out * g, reusing the output   (lecture: `dnorm_logits = counts * dcounts`)"""
    out = np.exp(x)
    return out, lambda g: (out * g,)

@primitive(saves="x")
def log(x):
    """log x: dx = (1 / x) * g   (lecture: `dprobs = (1.0 / probs) * dlogprobs`)"""
    return np.log(x), lambda g: ((1.0 / x) * g,)

@primitive(saves="x")
def log10(x):
    """log10 x: dx = g / (x * ln 10)   (the lectures' `loss.log10()`)"""
    return np.log10(x), lambda g: (g / (x * np.log(np.asarray(10.0, x.dtype))),)

@primitive(saves="out")
def tanh(x):
    """tanh x: dx = (1 - out**2) * g, reusing the output   (lecture: `dhpreact = (1.0 - h**2) * dh`)"""
    out = np.tanh(x)
    return out, lambda g: ((1.0 - out**2) * g,)

@primitive(saves="out")
def sqrt(x):
    """sqrt x: dx = g / (2 * out)"""
    out = np.sqrt(x)
    return out, lambda g: (g / (2 * out),)

@primitive(saves="out")
def relu(x):
    """max(x, 0): dx = g where out > 0, else 0   (relu'(0) = 0, as torch)"""
    out = np.maximum(x, 0)
    return out, lambda g: (np.where(out > 0, g, 0),)

@primitive(saves="out")
def sigmoid(x):
    """1 / (1 + e^-x): dx = out * (1 - out) * g"""
    out = 1 / (1 + np.exp(-x))
    return out, lambda g: (out * (1 - out) * g,)

@primitive(saves="x")
def abs(x):
    """|x|: dx = sign(x) * g   (sign(0) = 0, as torch)"""
    return np.abs(x), lambda g: (np.sign(x) * g,)

@primitive(saves="x")
def clamp(x, lo, hi):
    """x clipped to [lo, hi] (None: no bound): dx = g where lo <= x <= hi (bounds included, as torch)"""
    inside = np.ones(x.shape, bool)
    if lo is not None:
        inside &= x >= lo
    if hi is not None:
        inside &= x <= hi
    return np.clip(x, lo, hi).astype(x.dtype, copy=False), lambda g: (np.where(inside, g, 0),)

@primitive(saves="condition")
def where(condition, x, y):
    """condition ? x : y: dx = g where condition, dy = g elsewhere (the condition gets none)"""
    return np.where(condition, x, y), lambda g: (None, np.where(condition, g, 0), np.where(condition, 0, g))

@primitive()
def clone(x):
    """A copy: dx = g"""
    return x.copy(), lambda g: (g,)

@primitive()
def cast(x, dtype):
    """x as another float dtype: dx = g (the engine casts it back to x's dtype)"""
    return x.astype(dtype), lambda g: (g,)

# ---------------------------------------------------------------------------------- reductions
ACCURATE_FROM = 1024

def forward_sum(x, axes, keepdims):
    """x.sum(axes) for a forward pass. numpy adds along a non-contiguous axis one row at a time, so
    a float32 sum's error grows with the count (2.4e-5 relative for the mean of 182,625 rows;
    torch: 3e-7): from ACCURATE_FROM terms on, float32 is accumulated in float64 and rounded once.
    Below (every sum of a batch-32 step) it is the plain numpy sum, bit-identical to a learner's."""
    if x.dtype == np.float32 and _count(x.shape, axes) >= ACCURATE_FROM:
        return x.sum(axis=axes, keepdims=keepdims, dtype=np.float64).astype(np.float32)
    return x.sum(axis=axes, keepdims=keepdims)

def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n

@primitive()
def sum(x, axes, keepdim):
    """Sum over axes: dx = g copied along them   (lecture: `dcounts += ones_like(counts) * dcounts_sum`)"""
    shape = x.shape                                     # the rule keeps the shape, not the data
    out = forward_sum(x, axes, keepdim) if x.dtype.kind == "f" else x.sum(axis=axes, keepdims=keepdim, dtype=np.int64)
    return out, lambda g: (np.broadcast_to(unsqueeze_axes(g, axes, keepdim), shape),)

@primitive()
def mean(x, axes, keepdim):
    """Mean over axes: dx = g / N copied along them"""
    shape, n = x.shape, _count(x.shape, axes)
    out = forward_sum(x, axes, keepdim) / n
    return out, lambda g: (np.broadcast_to(unsqueeze_axes(g, axes, keepdim) / n, shape),)

@primitive(saves="x")
def var(x, axes, correction, keepdim):
    """Variance (correction 1: unbiased, torch's default; 0: biased):
    dx = 2 / (N - correction) * (x - mean) * g   (lecture: `dbndiff2 = 1/(n-1) * ones_like(bndiff2) * dbnvar`)"""
    n = _count(x.shape, axes)
    diff = x - forward_sum(x, axes, True) / n
    out = forward_sum(diff * diff, axes, keepdim) / max(0, n - correction)    # N <= correction: inf or nan
    scale = 2.0 / (n - correction) if n != correction else np.inf
    return out, lambda g: (scale * diff * unsqueeze_axes(g, axes, keepdim),)

@primitive(saves="x out")
def std(x, axes, correction, keepdim):
    """sqrt(var): dx = var's rule applied to g / (2 * out), and 0 where out is 0 (constant data:
    torch's convention, where the chain through ** 0.5 would give 0 * inf = nan)"""
    v, var_rule = var(x, axes, correction, keepdim)
    out = np.sqrt(v)
    return out, lambda g: var_rule(np.where(out == 0, 0, g / (2 * out)))

@primitive(saves="x")
def max_all(x):
    """The largest value: dx = g shared evenly among ties, as torch.max(x) (no dim)"""
    out = x.max()
    hit = x == out
    return np.asarray(out), lambda g: (hit * (g / hit.sum()),)

@primitive(saves="x")
def min_all(x):
    """The smallest value: dx = g shared evenly among ties"""
    out = x.min()
    hit = x == out
    return np.asarray(out), lambda g: (hit * (g / hit.sum()),)

@primitive(saves="index")
def max_dim(x, axis, keepdim):
    """(values, indices) along axis: dx is one-hot at the returned index (the first max on ties)
    (lecture: `dlogits += F.one_hot(logits.max(1).indices, num_classes=27) * dlogit_maxes`)"""
    return _pick(x, np.argmax(x, axis=axis), axis, keepdim)

@primitive(saves="index")
def min_dim(x, axis, keepdim):
    """(values, indices) along axis: dx is one-hot at the returned index"""
    return _pick(x, np.argmin(x, axis=axis), axis, keepdim)

def _pick(x, arg, axis, keepdim):
    idx = np.expand_dims(arg, axis)
    shape, dtype = x.shape, x.dtype

    def rule(g):
        dx = np.zeros(shape, dtype)
        np.put_along_axis(dx, idx, unsqueeze_axes(g, (axis,), keepdim), axis)
        return (dx,)
    values = np.take_along_axis(x, idx, axis)
    if not keepdim:
        values, idx_out = values.squeeze(axis), arg
    else:
        idx_out = idx
    return (values, idx_out.astype(np.int64)), rule

# ---------------------------------------------------------------------------------- shape
@primitive()
def reshape(x, shape):
    """x viewed with another shape: dx = g viewed back   (lecture: `demb = dembcat.view(emb.shape)`)"""
    back = x.shape
    return x.reshape(shape), lambda g: (g.reshape(back),)

@primitive()
def permute(x, axes):
    """Reorder dims (transpose, .T): dx = g with the inverse order"""
    inverse = tuple(np.argsort(axes))
    return x.transpose(axes), lambda g: (g.transpose(inverse),)

@primitive()
def expand(x, shape):
    """x broadcast to shape: dx = g summed back, by the engine"""
    return np.broadcast_to(x, shape), lambda g: (g,)

@primitive()
def cat(xs, axis):
    """Join along an axis: each input gets its slice of g"""
    cuts = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.concatenate(xs, axis=axis), lambda g: tuple(np.split(g, cuts, axis=axis))

@primitive()
def stack(xs, axis):
    """Stack along a new axis: each input gets its slice of g"""
    return np.stack(xs, axis=axis), lambda g: tuple(np.moveaxis(g, axis, 0))

# ---------------------------------------------------------------------------------- indexing
# `index` reads (`index.take(a)`) and writes (`index.put(a, v)`) the indexed places of an array,
# in torch's reading of the index (indexing.py translates it).
@primitive()
def basic_index(x, index):
    """x[ints, slices, None, ...]: each element is read at most once, so dx = g put back in place"""
    shape, dtype = x.shape, x.dtype

    def rule(g):
        dx = np.zeros(shape, dtype)
        index.put(dx, g)
        return (dx,)
    return index.take(x), rule

@primitive(saves="index")
def gather(x, index):
    """x[index arrays]. Repeated indices read an element several times, so dx is a scatter-add
    of g (`C[Xb]`; lecture: `for k, j: dC[Xb[k, j]] += demb[k, j]`)"""
    shape, dtype = x.shape, x.dtype

    def rule(g):                                        # where each output element came from:
        dx = np.zeros(shape, dtype)                     # the same index applied to positions
        scatter_add(dx, index.take(np.arange(dx.size).reshape(shape)), g)
        return (dx,)
    return index.take(x), rule

def scatter_add(dx, positions, g):
    """dx.flat[positions] += g, repeated positions added one after another, in order (dx is a new
    C-ordered array, so its flat view is itself). Shared by indexing and embedding."""
    np.add.at(dx.reshape(-1), positions.reshape(-1), np.broadcast_to(g, positions.shape).reshape(-1))

@primitive(saves="index")
def index_put(x, v, index):
    """x with x[index] = v: dx = g with the written places zeroed, dv = g read at them (the
    engine sums it back to v's shape)"""
    out = x.copy()
    index.put(out, v)

    def rule(g):
        dx = g.copy()
        index.put(dx, 0)
        return dx, index.take(g)
    return out, rule
