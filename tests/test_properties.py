"""Property-based parity with torch (hypothesis): binary ops over random broadcastable shapes and
values, reductions over random shapes, dims and keepdim. The "ci" profile (conftest.py) is small
and derandomized; HYPOTHESIS_PROFILE=dev explores many more cases."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness import EXACT, REDUCE, ULP, check

FLOATS = st.sampled_from([np.float32, np.float64])


def _array(draw, shape, dtype, away_from_zero=False):
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-8, 8, allow_nan=False)))
    if away_from_zero:
        values = np.where(np.abs(values) < 0.125, 0.5, values)
    return np.array(values, dtype=dtype)


@st.composite
def binary_case(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
    op = draw(st.sampled_from(["add", "sub", "mul", "div"]))
    da, db = draw(FLOATS), draw(FLOATS)
    a = _array(draw, shapes.input_shapes[0], da)
    b = _array(draw, shapes.input_shapes[1], db, away_from_zero=op == "div")
    return op, a, b


OPS = {"add": lambda T, F, x, y: x + y, "sub": lambda T, F, x, y: x - y,
       "mul": lambda T, F, x, y: x * y, "div": lambda T, F, x, y: x / y}


@given(binary_case())
def test_binary_ops_over_broadcast_shapes(case):
    op, a, b = case
    check(OPS[op], a, b, tol=EXACT, magnitudes=True)      # broadcast gradients are sums: may cancel


@given(binary_case(), st.sampled_from([2.5, -1, np.float64(0.75), 3]))
def test_binary_ops_with_scalars(case, scalar):
    op, a, b = case
    f = OPS[op]
    out, *_ = check(lambda T, F, x: f(T, F, f(T, F, x, scalar), x), b, tol=EXACT)
    assert out[0].dtype == b.dtype


@st.composite
def reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]) if ndim else st.just("none"))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        dim = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    keepdim = draw(st.booleans())
    x = _array(draw, shape, draw(FLOATS))
    return x, dim, keepdim


@given(reduction_case(), st.sampled_from(["sum", "mean"]))
def test_sum_mean(case, name):
    x, dim, keepdim = case
    check(lambda T, F, x: getattr(x, name)(dim=dim, keepdim=keepdim), x, tol=REDUCE, grad_tol=EXACT,
          magnitudes=True)


@given(reduction_case(), st.sampled_from([0, 1]))
def test_var(case, correction):
    x, dim, keepdim = case
    axes = range(x.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    n = int(np.prod([x.shape[a] for a in axes]))
    if n <= correction:
        correction = 0
    # near-constant slices: the variance (and its gradient) cancel to rounding noise in both engines,
    # so the absolute floor is scaled by what they are computed from: x**2 for the variance,
    # 2 |x| |g| / (n - correction) for its gradient (|g| < 3 for the harness's normal upstream)
    big = float(np.abs(x).max()) if x.size else 0.0
    check(lambda T, F, x: x.var(dim=dim, keepdim=keepdim, correction=correction), x, tol=REDUCE,
          fwd_scale=big * big, grad_scale=big * 2 * 3 / max(n - correction, 1))


@given(reduction_case(), st.sampled_from(["max", "min"]))
def test_max_min_with_dim(case, name):
    x, dim, keepdim = case
    if not isinstance(dim, int):
        dim = -1
    check(lambda T, F, x: tuple(getattr(x, name)(dim, keepdim=keepdim)), x, tol=EXACT)


@given(reduction_case(), st.sampled_from(["max", "min"]))
def test_max_min_over_everything(case, name):
    x, _, _ = case
    x = np.asarray(np.round(x))                           # plenty of ties: they share the gradient
    check(lambda T, F, x: getattr(x, name)(), x, tol=EXACT)


def _index_part(draw, n):
    kind = draw(st.sampled_from(["int", "int0d", "slice", "array", "mask"]))
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if kind == "int0d":                                   # a 0-d int tensor: an int for torch
        return np.array(draw(st.integers(-n, n - 1)))
    if kind == "slice":
        start, stop = draw(st.none() | st.integers(-n, n)), draw(st.none() | st.integers(-n, n))
        return slice(start, stop, draw(st.none() | st.integers(1, 3)))
    if kind == "array":
        k = draw(st.integers(1, 4))
        return np.array(draw(st.lists(st.integers(-n, n - 1), min_size=k, max_size=k)))
    return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))


@st.composite
def index_case(draw):
    """A random index into a random shape: ints (negative too), slices with steps, None, an Ellipsis,
    integer arrays (repeats, negatives) and bool masks, in any combination torch accepts."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    head = draw(st.integers(0, len(shape)))               # parts for the first dims,
    tail = draw(st.integers(0, len(shape) - head)) if draw(st.booleans()) else None   # ..., then the last
    parts = [_index_part(draw, shape[d]) for d in range(head)]
    if tail is not None:
        parts += [Ellipsis] + [_index_part(draw, shape[d]) for d in range(len(shape) - tail, len(shape))]
    for _ in range(draw(st.integers(0, 2))):              # None anywhere
        parts.insert(draw(st.integers(0, len(parts))), None)
    arrays = [p for p in parts if isinstance(p, np.ndarray) and p.ndim]
    sizes = {len(p) for p in arrays if p.dtype != np.bool_} | {int(p.sum()) for p in arrays if p.dtype == np.bool_}
    if len(sizes - {1}) > 1:                              # several index arrays must broadcast: keep one
        parts = [slice(None) if isinstance(p, np.ndarray) and p.ndim and p is not arrays[0] else p
                 for p in parts]
    x = _array(draw, shape, draw(FLOATS))
    return x, tuple(parts)


@given(index_case())
def test_indexing(case):
    """Forward exact; the gradient is a scatter-add, so repeated reads sum (REDUCE)."""
    x, index = case
    arrays = [i for i, p in enumerate(index) if isinstance(p, np.ndarray)]
    pos = {i: k for k, i in enumerate(arrays)}

    def fn(T, F, x, *tensors):                            # the index arrays reach both as int/bool tensors
        return x[tuple(tensors[pos[i]] if i in pos else p for i, p in enumerate(index))]
    check(fn, x, *[index[i] for i in arrays], tol=EXACT, grad_tol=REDUCE)


@given(hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=4, max_side=4), FLOATS)
def test_matmul_over_shapes(shapes, dtype):
    a, b = shapes.input_shapes
    rng = np.random.default_rng(len(a) * 10 + len(b))
    check(lambda T, F, x, y: x @ y, rng.standard_normal(a).astype(dtype), rng.standard_normal(b).astype(dtype),
          tol=REDUCE, magnitudes=True)                    # a single dot product may cancel to ~0


UNARY = {"exp": ULP, "log": ULP, "tanh": ULP, "sqrt": ULP, "sigmoid": ULP, "relu": EXACT, "abs": EXACT,
         "neg": EXACT, "square": EXACT, "reciprocal": ULP, "rsqrt": ULP}
UNARY_FN = {"neg": lambda x: -x, "square": lambda x: x ** 2, "reciprocal": lambda x: x ** -1,
            "rsqrt": lambda x: x ** -0.5}


@given(st.sampled_from(sorted(UNARY)), FLOATS,
       hnp.arrays(np.float64, st.integers(0, 12), elements=st.floats(-200, 200) | st.sampled_from(
           [0.0, -0.0, 1e-30, -1e-30, np.inf, -np.inf, 88.0, 89.0, 710.0, -745.0]), unique=False))
def test_unary_over_wide_values(name, dtype, values):
    """Overflow, underflow, zeros, infinities and negative inputs to log/sqrt (NaN at the same places)."""
    import warnings
    x = values.astype(dtype)
    if name == "rsqrt":
        # outside its domain x ** -0.5 differs at -0.0 and -inf: C's pow (numpy, tinytape) gives +inf
        # and +0, torch's rsqrt -inf and nan. tinytape keeps numpy's pow so that a learner's numpy
        # `(bnvar + 1e-5)**-0.5` and the tape agree bit for bit: compare on x >= 0
        x = np.abs(x)
    f = UNARY_FN.get(name, lambda x: getattr(x, name)())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the float64 -> float32 cast of 710 overflows
        check(lambda T, F, x: f(x), x, tol=UNARY[name])
