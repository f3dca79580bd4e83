"""Parity with torch for the elementwise ops: exp, log, tanh, sqrt, relu, sigmoid, abs, clamp,
where, clone and casts, as methods and as module functions, with their edge values."""
import numpy as np
import pytest

from harness import EXACT, ULP, Const, NoGrad, check, positive, randn

DTYPES = [np.float32, np.float64]
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]

# name -> (input maker, forward class, gradient class)
UNARY = {
    "exp": (randn, ULP, ULP),
    "log": (positive, ULP, ULP),
    "tanh": (randn, ULP, ULP),
    "sqrt": (positive, ULP, ULP),
    "sigmoid": (randn, ULP, ULP),
    "relu": (randn, EXACT, EXACT),
    "abs": (randn, EXACT, EXACT),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_method_and_function(name, shape, dtype):
    make, fwd, bwd = UNARY[name]
    x = make(*shape, dtype=dtype, seed=3)
    out, *_ = check(lambda T, F, x: getattr(x, name)(), x, tol=fwd, grad_tol=bwd)
    assert out[0].dtype == dtype
    check(lambda T, F, x: getattr(T, name)(x), x, tol=fwd, grad_tol=bwd)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_over_a_wide_range(dtype):
    """Saturated tanh/sigmoid and large exp: the gradient compares in ulp of the upstream scale."""
    x = np.linspace(-9, 9, 37).astype(dtype)
    for name in ("exp", "tanh", "sigmoid"):
        check(lambda T, F, x: getattr(T, name)(x), x, tol=ULP)
    check(lambda T, F, x: x.log(), np.geomspace(1e-6, 1e6, 25).astype(dtype), tol=ULP)
    check(lambda T, F, x: x.sqrt(), np.geomspace(1e-6, 1e6, 25).astype(dtype), tol=ULP)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_at_zero_has_zero_gradient(dtype):
    """relu'(0) = 0, as torch."""
    x = np.array([-2.0, -0.0, 0.0, 0.0, 1e-30, 3.0], dtype=dtype)
    out, t_out, grads, t_grads = check(lambda T, F, x: x.relu(), x, tol=EXACT)
    assert grads[0][1] == 0 and grads[0][2] == 0 and grads[0][3] == 0
    assert grads[0][4] != 0
    check(lambda T, F, x: F.relu(x), x, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_abs_at_zero_has_zero_gradient(dtype):
    x = np.array([-2.0, -0.0, 0.0, 1.5], dtype=dtype)
    out, _, grads, _ = check(lambda T, F, x: x.abs(), x, tol=EXACT)
    assert grads[0][1] == 0 and grads[0][2] == 0
    check(lambda T, F, x: abs(x), x, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_and_sqrt_at_zero(dtype):
    """log 0 = -inf with gradient inf*g; sqrt 0 = 0 with gradient inf*g, as torch (no warnings)."""
    x = np.array([0.0, 0.25, 4.0], dtype=dtype)
    check(lambda T, F, x: x.log(), x, tol=ULP)
    check(lambda T, F, x: x.sqrt(), x, tol=ULP)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_overflow(dtype):
    x = np.array([-1000.0, 0.0, 1000.0], dtype=dtype)
    check(lambda T, F, x: x.exp(), x, tol=ULP)


CLAMPS = [(-0.5, 0.5), (-0.5, None), (None, 0.25), (0.0, 0.0), (-1, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lo,hi", CLAMPS, ids=str)
def test_clamp(lo, hi, dtype):
    """Inputs exactly at the bounds get the gradient (bounds included, as torch)."""
    x = np.array([[-2.0, -0.5, -0.25, 0.0], [0.25, 0.5, 1.0, 3.0]], dtype=dtype)
    out, *_ = check(lambda T, F, x: x.clamp(lo, hi), x, tol=EXACT)
    assert out[0].dtype == dtype
    check(lambda T, F, x: x.clamp(min=lo, max=hi), x, tol=EXACT)
    check(lambda T, F, x: T.clamp(x, lo, hi), x, tol=EXACT)
    check(lambda T, F, x: x.clip(lo, hi), x, tol=EXACT)


def test_clamp_float32_with_numpy_float64_bounds():
    x = randn(3, 4, dtype=np.float32)
    out, *_ = check(lambda T, F, x: x.clamp(np.float64(-0.3), np.float64(0.4)), x, tol=EXACT)
    assert out[0].dtype == np.float32


WHERE = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((3, 1), (1, 4), ()), ((2, 3, 4), (4,), (3, 4))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", WHERE, ids=str)
def test_where(shapes, dtype):
    sc, sa, sb = shapes
    cond = np.random.default_rng(5).random(sc) < 0.5
    a = randn(*sa, dtype=dtype, seed=1)
    b = randn(*sb, dtype=dtype, seed=2)
    check(lambda T, F, c, x, y: T.where(c, x, y), cond, a, b, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_with_scalars_and_constants(dtype):
    cond = np.array([[True, False, True], [False, False, True]])
    a = randn(2, 3, dtype=dtype)
    out, *_ = check(lambda T, F, c, x: T.where(c, x, 0.0), cond, a, tol=EXACT)
    assert out[0].dtype == dtype
    check(lambda T, F, c, x: T.where(c, -1.5, x), cond, a, tol=EXACT)
    check(lambda T, F, c, x, y: T.where(c, x, y), cond, a, NoGrad(randn(3, dtype=dtype)), tol=EXACT)
    check(lambda T, F, c, x: T.where(c, x, x * 2), cond, a, tol=EXACT)


def test_where_of_two_numbers_has_torchs_default_dtypes():
    cond = np.array([[True, False, True], [False, False, True]])
    for a, b in [(1.0, 0.0), (1, 0), (True, False), (2, 0.5)]:
        check(lambda T, F, c: T.where(c, a, b), cond, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clone(dtype):
    a = randn(3, 4, dtype=dtype)
    check(lambda T, F, x: x.clone(), a, tol=EXACT)
    check(lambda T, F, x: T.clone(x) * x, a, tol=EXACT)


def test_clone_does_not_share_memory():
    import tinytape
    x = tinytape.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert not np.shares_memory(x.detach().numpy(), y.detach().numpy())


CASTS = {
    "double": lambda T, F, x: x.double() * 3,
    "float": lambda T, F, x: x.float() * 3,
    "to64": lambda T, F, x: x.to(T.float64) * 3,
    "to32": lambda T, F, x: x.to(T.float32) * 3,
    "type64": lambda T, F, x: x.type(T.float64) * 3,
    "same": lambda T, F, x: x.to(x.dtype) * 3,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cast", CASTS)
def test_cast(cast, dtype):
    """The gradient comes back in the input's dtype."""
    check(CASTS[cast], randn(3, 4, dtype=dtype), tol=EXACT)


def test_cast_to_integers_is_outside_the_graph():
    x = np.array([[-1.7, 0.2], [2.9, -0.4]])
    for f in (lambda T, F, x: x.long(), lambda T, F, x: x.int(), lambda T, F, x: x.bool(),
              lambda T, F, x: x.to(T.int64)):
        out, *_ = check(f, x, tol=EXACT)
        assert not out[0].requires_grad


def test_numpy_float64_array_constant_with_float32_unary_chain():
    """A realistic mix: float32 parameters, float64 numpy data, the result float64 as torch's."""
    w = randn(3, dtype=np.float32)
    check(lambda T, F, w, d: (w * d).tanh(), w, Const(positive(2, 3, seed=4)), tol=ULP)


@pytest.mark.parametrize("ints", [np.array([1, 2, 7]), np.array([[0, 3], [4, 9]], dtype=np.int32),
                                  np.array([True, False])], ids=["int64", "int32", "bool"])
def test_integer_tensors_through_float_ops(ints):
    """exp, log, ... of an int tensor are float32, as torch's (numpy would give float64); clamp with
    float bounds is float32; integer powers stay integers."""
    for name in ("exp", "log", "tanh", "sqrt", "sigmoid"):
        out, *_ = check(lambda T, F, x: getattr(x, name)(), ints, tol=ULP)
        assert out[0].dtype == np.float32
    check(lambda T, F, x: x.clamp(0.5, 2.5), ints, tol=EXACT)
    check(lambda T, F, x: x.clamp(min=1), ints, tol=EXACT)
    check(lambda T, F, x: 2 ** x, ints, tol=EXACT)
    check(lambda T, F, x: 2.5 ** x, ints, tol=ULP)
    check(lambda T, F, x: x ** 2, ints, tol=EXACT)
