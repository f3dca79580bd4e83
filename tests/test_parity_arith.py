"""Parity with torch for + - * / @, unary -, ** and rpow, over a table of broadcast shapes, both
float dtypes, and Python scalars, numpy scalars and numpy arrays on either side."""
import numpy as np
import pytest

from harness import EXACT, REDUCE, ULP, Const, NoGrad, check, positive, randn

DTYPES = [np.float32, np.float64]

# (a's shape, b's shape): 0-d, size-1, one- and two-sided broadcasts, leading dims
BROADCAST = [
    ((), ()),
    ((), (3,)),
    ((2, 3), ()),
    ((1,), (4,)),
    ((3,), (2, 3)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((4, 1), (4, 5)),
    ((1, 1), (2, 3)),
    ((2, 3), (2, 3)),
    ((3, 1, 4), (2, 1)),
    ((5, 2, 3), (2, 3)),
    ((2, 1, 3, 1), (4, 1, 5)),
]

BINARY = {
    "add": lambda T, F, x, y: x + y,
    "sub": lambda T, F, x, y: x - y,
    "mul": lambda T, F, x, y: x * y,
    "div": lambda T, F, x, y: x / y,
}


def _operands(op, sa, sb, dtype):
    a = randn(*sa, dtype=dtype, seed=1)
    b = randn(*sb, dtype=dtype, seed=2)
    if op == "div":                                   # keep the divisor away from zero
        b = np.where(np.abs(b) < 0.3, 0.7, b).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcast(op, shapes, dtype):
    a, b = _operands(op, *shapes, dtype)
    check(BINARY[op], a, b, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY)
def test_binary_same_tensor_on_both_sides(op, dtype):
    """x op x: both contributions accumulate into one gradient."""
    a = positive(3, 4, dtype=dtype)
    check(lambda T, F, x: BINARY[op](T, F, x, x), a, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("scalar", [2.5, -3, np.float64(1.75), np.float32(-0.5), np.int64(3), True],
                         ids=repr)
def test_binary_with_scalar_either_side(op, scalar, dtype):
    """Python and numpy scalars on either side keep float32 as float32 (torch's weak scalars)."""
    if op == "sub" and scalar is True:                # torch refuses to subtract booleans
        import tinytape
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
            tinytape.tensor(positive(2, 3, dtype=dtype)) - scalar
        return
    a = positive(2, 3, dtype=dtype)
    f = BINARY[op]
    out, *_ = check(lambda T, F, x: f(T, F, x, scalar), a, tol=EXACT)
    assert out[0].dtype == dtype
    out, *_ = check(lambda T, F, x: f(T, F, scalar, x), a, tol=EXACT)
    assert out[0].dtype == dtype


def test_sub_refuses_booleans_like_torch():
    import torch
    import tinytape
    x = np.ones(3, dtype=np.float32)
    mask = np.array([True, False, True])
    for lib in (torch, tinytape):
        for a, b in [(lib.tensor(x), True), (False, lib.tensor(x)), (lib.tensor(mask), lib.tensor(x)),
                     (lib.tensor(x), lib.tensor(mask))]:
            with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with a bool tensor"):
                a - b
        with pytest.raises(RuntimeError, match="with two bool tensors is not supported. Use the `\\^`"):
            lib.tensor(mask) - lib.tensor(mask)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (4, 1, 3)], ids=str)
def test_binary_with_numpy_array_either_side(op, shape, dtype):
    """A numpy array operand behaves as torch.as_tensor(array) would, on the left and on the right."""
    a = randn(2, 3, dtype=dtype, seed=3)
    c = positive(*shape, dtype=dtype, seed=4)
    f = BINARY[op]
    check(lambda T, F, x, k: f(T, F, x, k), a, Const(c), tol=EXACT)
    check(lambda T, F, k, x: f(T, F, k, x), Const(c), np.where(np.abs(a) < .3, .7, a).astype(dtype),
          tol=EXACT)


@pytest.mark.parametrize("op", BINARY)
def test_float32_with_float64_numpy_array_follows_torch(op):
    """float32 tensor with a float64 array: the array counts as a tensor (dims: float64; 0-d: float32)."""
    a = positive(2, 3, dtype=np.float32)
    f = BINARY[op]
    out, *_ = check(lambda T, F, x, k: f(T, F, x, k), a, Const(positive(3, seed=5)), tol=EXACT)
    assert out[0].dtype == np.float64
    out, *_ = check(lambda T, F, x, k: f(T, F, x, k), a, Const(np.array(1.5)), tol=EXACT)
    assert out[0].dtype == np.float32


@pytest.mark.parametrize("op", BINARY)
def test_mixed_float_dtypes_grads_keep_their_dtype(op):
    """float32 (2,3) with float64 (3,): the result is float64, each gradient keeps its input's dtype."""
    a = positive(2, 3, dtype=np.float32)
    b = positive(3, dtype=np.float64, seed=7)
    check(BINARY[op], a, b, tol=EXACT)
    check(BINARY[op], b, a, tol=EXACT)


@pytest.mark.parametrize("op", BINARY)
def test_mixed_with_zero_dim_tensor(op):
    """A 0-d float64 tensor does not promote a dimensioned float32 tensor (torch's rule)."""
    a = positive(2, 3, dtype=np.float32)
    b = np.array(1.25)
    out, *_ = check(BINARY[op], a, b, tol=EXACT)
    assert out[0].dtype == np.float32
    check(BINARY[op], b, a, tol=EXACT)


@pytest.mark.parametrize("op", BINARY)
def test_int_tensor_with_float_tensor(op):
    """An int tensor with a float tensor: float result, the float tensor's gradient as torch's."""
    ints = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int64)
    for dtype in DTYPES:
        x = positive(2, 3, dtype=dtype)
        check(BINARY[op], ints, x, tol=EXACT)
        check(BINARY[op], x, ints, tol=EXACT)
        check(BINARY[op], x, np.array(3, dtype=np.int64), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_neg(dtype):
    check(lambda T, F, x: -x, randn(3, 4, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: -x, randn(dtype=dtype), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_chain_of_arithmetic(dtype):
    """The lecture's shapes: probs = counts * counts_sum_inv, (32,27) with (32,1)."""
    counts = positive(32, 27, dtype=dtype)
    check(lambda T, F, c: c * (c.sum(1, keepdim=True) ** -1), counts, tol=REDUCE)


# ---------------------------------------------------------------------------------- pow
# exponent -> forward class, gradient class (PRECISION.md: x**2 and x**-1 exact; x**-0.5 a few ulp)
POW = [(2, EXACT, EXACT), (2.0, EXACT, EXACT), (-1, EXACT, ULP), (-1.0, EXACT, ULP),
       (-0.5, ULP, ULP), (0.5, ULP, ULP), (3, ULP, ULP), (0, EXACT, EXACT), (0.0, EXACT, EXACT),
       (-2, ULP, ULP), (1, EXACT, EXACT), (1.5, ULP, ULP), (np.float64(-0.5), ULP, ULP)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,fwd,bwd", POW, ids=lambda v: repr(v))
def test_pow(p, fwd, bwd, dtype):
    x = positive(4, 5, dtype=dtype)
    out, *_ = check(lambda T, F, x: x ** p, x, tol=fwd, grad_tol=bwd)
    assert out[0].dtype == dtype
    check(lambda T, F, x: x.pow(p), x, tol=fwd, grad_tol=bwd)
    check(lambda T, F, x: T.pow(x, p), x, tol=fwd, grad_tol=bwd)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2, 3, -1, 0])
def test_pow_integer_exponent_on_negative_inputs(p, dtype):
    x = randn(3, 4, dtype=dtype, seed=9)
    x = np.where(np.abs(x) < 0.3, -0.8, x).astype(dtype)
    check(lambda T, F, x: x ** p, x, tol=EXACT if p in (0, 2) else ULP,
          grad_tol=EXACT if p in (0, 2) else ULP)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_with_one_element_tensor_exponent(dtype):
    x = positive(3, dtype=dtype)
    check(lambda T, F, x, p: x ** p, x, NoGrad(np.array(2.0, dtype=dtype)), tol=EXACT)


def test_pow_of_int_tensor():
    ints = np.array([1, -2, 3], dtype=np.int64)
    check(lambda T, F, x: x ** 2, ints, tol=EXACT)
    check(lambda T, F, x: x ** 0.5, np.array([1, 4, 9]), tol=ULP)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [2.0, 2, np.float64(0.5), 10.0])
def test_rpow(base, dtype):
    x = randn(3, 4, dtype=dtype)
    out, *_ = check(lambda T, F, x: base ** x, x, tol=ULP)
    assert out[0].dtype == dtype


# ---------------------------------------------------------------------------------- matmul
MATMUL = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((1, 4), (4, 1)),
    ((32, 30), (30, 64)),
    ((2, 3, 2, 4), (4, 5)),                  # a stack @ a matrix: folded into one product, as torch
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul(shapes, dtype):
    a = randn(*shapes[0], dtype=dtype, seed=1)
    b = randn(*shapes[1], dtype=dtype, seed=2)
    check(lambda T, F, x, y: x @ y, a, b, tol=REDUCE)
    check(lambda T, F, x, y: T.matmul(x, y), a, b, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_of_a_strided_stack_and_a_transposed_matrix(dtype):
    """nn.Linear on a (B, T, C) input: x @ W.T, with x itself a transposed view (non-contiguous)."""
    a, w = randn(3, 2, 4, dtype=dtype, seed=1), randn(5, 4, dtype=dtype, seed=2)
    check(lambda T, F, x, y: x.transpose(0, 1) @ y.T, a, w, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_with_one_side_constant(dtype):
    """Only one side requires grad (the other is a tensor without grad, or a numpy array)."""
    a = randn(3, 4, dtype=dtype, seed=1)
    b = randn(4, 5, dtype=dtype, seed=2)
    check(lambda T, F, x, y: x @ y, a, NoGrad(b), tol=REDUCE)
    check(lambda T, F, x, y: x @ y, NoGrad(a), b, tol=REDUCE)
    check(lambda T, F, x, y: x @ y, a, Const(b), tol=REDUCE)
    check(lambda T, F, x, y: x @ y, Const(a), b, tol=REDUCE)
    check(lambda T, F, x, y: x @ y, randn(2, 3, 4, dtype=dtype), NoGrad(randn(4, dtype=dtype)),
          tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_same_tensor_twice(dtype):
    a = randn(4, 4, dtype=dtype)
    check(lambda T, F, x: x @ x, a, tol=REDUCE)
    check(lambda T, F, x: x @ x.T, a, tol=REDUCE)


# addmm: nn.Linear's fused `x @ W + b`; the bias broadcast over the rows (summed back in backward)
ADDMM = [((5,), (3, 4), (4, 5)), ((1, 5), (3, 4), (4, 5)), ((3, 5), (3, 4), (4, 5)), ((3, 1), (3, 4), (4, 5)),
         ((), (3, 4), (4, 5)), ((64,), (32, 30), (30, 64))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", ADDMM, ids=str)
def test_addmm(shapes, dtype):
    b, x, w = (randn(*s, dtype=dtype, seed=k) for k, s in enumerate(shapes))
    check(lambda T, F, b, x, w: T.addmm(b, x, w), b, x, w, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_addmm_with_inputs_that_do_not_require_grad(dtype):
    b, x, w = randn(5, dtype=dtype), randn(3, 4, dtype=dtype, seed=1), randn(4, 5, dtype=dtype, seed=2)
    check(lambda T, F, b, x, w: T.addmm(b, x, w), NoGrad(b), x, w, tol=REDUCE)
    check(lambda T, F, b, x, w: T.addmm(b, x, w), b, NoGrad(x), w, tol=REDUCE)
    check(lambda T, F, b, x, w: T.addmm(b, x, w), b, x, NoGrad(w), tol=REDUCE)


def test_addmm_is_bit_identical_to_matmul_then_add():
    """The fused op does the lecture's numpy operations: `embcat @ W1 + b1` forward, `dh @ W.T`,
    `x.T @ dh`, `dh.sum(0)` backward, so its values and gradients equal the two-op chain's."""
    import tinytape
    import torch
    b, x, w = randn(5, dtype=np.float32), randn(3, 4, dtype=np.float32, seed=1), randn(4, 5, dtype=np.float32, seed=2)
    g = randn(3, 5, dtype=np.float32, seed=3)
    fused = [tinytape.tensor(a, requires_grad=True) for a in (b, x, w)]
    chain = [tinytape.tensor(a, requires_grad=True) for a in (b, x, w)]
    out = tinytape.addmm(*fused)
    ref = chain[1] @ chain[2] + chain[0]
    out.backward(g)
    ref.backward(g)
    assert out.grad_fn.name() == torch.addmm(*(torch.tensor(a, requires_grad=True) for a in (b, x, w))).grad_fn.name()
    assert np.array_equal(out.detach().numpy(), ref.detach().numpy())
    for f, c in zip(fused, chain):
        assert np.array_equal(f.grad.numpy(), c.grad.numpy())
