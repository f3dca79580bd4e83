"""Parity with torch for the later lectures' ops (more_ops.py, fused.py's layer_norm and logsumexp,
api_more.py, functional.py): forward values, every gradient and grad_fn names on identical inputs,
both float dtypes, 0-d and negative dims; a float64 finite-difference check of every new rule;
torch's errors for misuse, word for word."""
import math
import warnings

import numpy as np
import pytest
import torch

import tinytape
import tinytape.functional as TF
from harness import COMPOSITE, REDUCE, ULP, NoGrad, check, positive, randn

DTYPES = [np.float32, np.float64]


def _grad_fn(out):
    return None if out.grad_fn is None else out.grad_fn.name()


def same_names(fn, *args):
    """fn's result has torch's grad_fn name on both engines (inputs that require grad)."""
    ins = [(tinytape.tensor(a, requires_grad=a.dtype.kind == "f"), torch.tensor(a, requires_grad=a.dtype.kind == "f"))
           if isinstance(a, np.ndarray) else (a, a) for a in args]
    a = fn(tinytape, TF, *[i[0] for i in ins])
    t = fn(torch, torch.nn.functional, *[i[1] for i in ins])
    a, t = (a[0], t[0]) if isinstance(t, tuple) else (a, t)
    assert _grad_fn(a) == _grad_fn(t).replace("torch::autograd::", "")


# ---------------------------------------------------------------------------------- elementwise
UNARY = {"sin": randn, "cos": randn, "rsqrt": positive, "log1p": positive, "erf": randn}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, dtype):
    x = UNARY[name](*shape, dtype=dtype)
    check(lambda T, F, x: getattr(x, name)(), x, tol=ULP)
    check(lambda T, F, x: getattr(T, name)(x), x, tol=ULP)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_of_integers_is_float32(name):
    check(lambda T, F, x: getattr(T, name)(x), np.array([1, 2, 3]), tol=ULP)


def test_erf_far_out_and_special_values():
    x = np.array([-30.0, -5.5, -1e-8, 0.0, 1e-300, 0.3, 2.7, 6.0, np.inf, -np.inf, np.nan])
    check(lambda T, F, x: x.erf(), x, tol=ULP)
    check(lambda T, F, x: x.erf(), x.astype(np.float32), tol=ULP)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), ()], ids=str)
@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "silu", "relu", "sigmoid", "tanh"])
def test_activations(act, shape, dtype):
    x = randn(*shape, dtype=dtype, scale=3.0)
    if act == "gelu_tanh":
        check(lambda T, F, x: F.gelu(x, approximate="tanh"), x, tol=COMPOSITE)
    else:
        check(lambda T, F, x: getattr(F, act)(x), x, tol=COMPOSITE)
    if shape:
        same_names(lambda T, F, x: F.gelu(x) if act.startswith("gelu") else getattr(F, act)(x), x)


def test_activations_far_out():
    x = np.array([-100.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 100.0])
    for dtype in DTYPES:
        for f in (lambda T, F, x: F.gelu(x), lambda T, F, x: F.gelu(x, approximate="tanh"), lambda T, F, x: F.silu(x)):
            check(f, x.astype(dtype), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_share_ties(name, dtype):
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 7.0]], dtype)
    y = np.array([[1.0, 5.0, -3.0], [0.5, -1.0, 2.0]], dtype)            # ties share the gradient
    check(lambda T, F, x, y: getattr(T, name)(x, y), x, y)
    check(lambda T, F, x, y: getattr(x, name)(y), x, y)
    check(lambda T, F, x, y: getattr(T, name)(x, y), x, y[0])            # broadcast
    check(lambda T, F, x, y: getattr(T, name)(x, y), randn(3, dtype=dtype), randn(2, 1, dtype=dtype), tol=REDUCE)
    check(lambda T, F, x, y: getattr(T, name[:3])(x, y), x, y)          # torch.max(a, b), torch.min(a, b)
    check(lambda T, F, x, y: getattr(x, name[:3])(y), x, y)
    check(lambda T, F, x, y: getattr(T, name)(x, y), np.array([3, -1]), np.array([2.5, 0.0], dtype))    # promotion


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
def test_floor_divide_and_remainder_round_down(dtype):
    a = np.array([-7, 7, -7, 7, 0, -1, 5], dtype)
    b = np.array([2, -2, -2, 2, 3, 4, 5], dtype)
    check(lambda T, F, a, b: a // b, NoGrad(a), NoGrad(b))
    check(lambda T, F, a, b: a % b, NoGrad(a), NoGrad(b))
    check(lambda T, F, a: a // 3, NoGrad(a))
    check(lambda T, F, a: a % -3, NoGrad(a))
    check(lambda T, F, b: 7 // b, NoGrad(b))
    check(lambda T, F, b: -7 % b, NoGrad(b))
    check(lambda T, F, a, b: T.floor_divide(a, b), NoGrad(a), NoGrad(b))
    check(lambda T, F, a, b: a.remainder(b), NoGrad(a), NoGrad(b))
    check(lambda T, F, a: a.float() % 2.5, NoGrad(a))


@pytest.mark.parametrize("dtype", DTYPES)
def test_remainder_gradient(dtype):
    a = np.array([-7.5, 7.25, -7.0, 7.0, 0.5], dtype)
    b = np.array([2.0, -2.0, -2.5, 2.5, 4.0], dtype)
    check(lambda T, F, a, b: a % b, a, b)
    check(lambda T, F, a: a % 1.5, a)
    check(lambda T, F, b: 3.0 % b, NoGrad(b))


@pytest.mark.parametrize("op", [lambda x: x // 2, lambda x: 2 // x, lambda x: 3.0 % x], ids=["a//2", "2//a", "3%a"])
def test_ops_recorded_without_a_derivative(op):
    """floor_divide, and remainder with a number on the left: torch records them, a backward raises."""
    x, tx = tinytape.tensor([1.5, -2.5], requires_grad=True), torch.tensor([1.5, -2.5], requires_grad=True)
    y, ty = op(x), op(tx)
    assert y.requires_grad and ty.requires_grad
    with pytest.raises(RuntimeError) as theirs:
        ty.sum().backward()
    with pytest.raises(RuntimeError, match="^" + str(theirs.value) + "$"):
        y.sum().backward()
    assert x.grad is None


def test_integer_division_by_zero():
    for op in (lambda a, b: a // b, lambda a, b: a % b):
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            op(tinytape.tensor([1, 2]), tinytape.tensor([1, 0]))
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            op(torch.tensor([1, 2]), torch.tensor([1, 0]))
    check(lambda T, F, a: a // 0.0, NoGrad(np.array([1.0, -1.0, 0.0])))
    check(lambda T, F, a: a % 0.0, NoGrad(np.array([1.0, -1.0, 0.0])))


BOOLS = [np.array([True, False, True, False]), np.array([True, True, False, False])]
INTS = [np.array([12, -3, 0, 7]), np.array([10, 5, -1, 7])]


@pytest.mark.parametrize("kind", ["bool", "int"])
def test_bitwise_operators(kind):
    a, b = BOOLS if kind == "bool" else INTS
    for f in (lambda T, F, a, b: a & b, lambda T, F, a, b: a | b, lambda T, F, a, b: a ^ b,
              lambda T, F, a, b: ~a, lambda T, F, a, b: a.bitwise_and(b), lambda T, F, a, b: a.bitwise_or(b),
              lambda T, F, a, b: T.bitwise_xor(a, b), lambda T, F, a, b: T.bitwise_not(a),
              lambda T, F, a, b: a & True, lambda T, F, a, b: 3 | a, lambda T, F, a, b: a ^ 1,
              lambda T, F, a, b: a.logical_and(b), lambda T, F, a, b: T.logical_or(a, b),
              lambda T, F, a, b: T.logical_not(a), lambda T, F, a, b: a.logical_xor(b)):
        check(f, a, b)
    check(lambda T, F, a, b: a & b, BOOLS[0], INTS[0])                  # bool & long is long
    check(lambda T, F, a, b: (a > 0) & (b < 6), INTS[0], INTS[1])
    check(lambda T, F, a, b: a & b, INTS[0].astype(np.int32), INTS[1])  # int32 & int64 is int64


# ---------------------------------------------------------------------------------- softmax and losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [-1, -2, -3, 0, 2])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_negative_dims_and_method_form(name, dim, dtype):
    x = randn(2, 3, 4, dtype=dtype, scale=2.0)
    check(lambda T, F, x: getattr(F, name)(x, dim), x, tol=COMPOSITE)
    check(lambda T, F, x: getattr(x, name)(dim), x, tol=COMPOSITE)
    check(lambda T, F, x: getattr(F, name)(x, dim=-1, dtype=T.float64), x, tol=COMPOSITE)
    same_names(lambda T, F, x: getattr(x, name)(dim), x)


def _targets(shape, c, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, c, shape).astype(np.int64)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


CE_SHAPES = [((6, 5), (6,)), ((3, 4, 5), (3, 5)), ((2, 4, 3, 2), (2, 3, 2)), ((5,), ())]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [None, -100])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", CE_SHAPES, ids=str)
def test_cross_entropy_options(shapes, reduction, ignore, smoothing, dtype):
    xs, ts = shapes
    c = xs[1] if len(xs) > 1 else xs[0]
    x = randn(*xs, dtype=dtype, scale=2.0)
    t = _targets(ts, c, ignore=ignore)
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if ignore is not None:
        kw["ignore_index"] = ignore
    check(lambda T, F, x, t: F.cross_entropy(x, t, **kw), x, t, tol=COMPOSITE)
    if xs != (5,):
        same_names(lambda T, F, x, t: F.cross_entropy(x, t, **kw), x, t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_ignores_any_index(reduction, dtype):
    x, t = randn(2, 4, 3, dtype=dtype), np.array([[0, 1, 1], [3, 1, 2]])
    check(lambda T, F, x, t: F.cross_entropy(x, t, ignore_index=1, reduction=reduction, label_smoothing=0.1), x, t,
          tol=COMPOSITE)
    check(lambda T, F, x, t: F.cross_entropy(x[0].T, t[1], ignore_index=3, reduction=reduction), x, t, tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore", [None, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", CE_SHAPES, ids=str)
def test_nll_loss_options(shapes, reduction, ignore, dtype):
    xs, ts = shapes
    c = xs[1] if len(xs) > 1 else xs[0]
    x = randn(*xs, dtype=dtype)
    t = _targets(ts, c, seed=1, ignore=ignore)
    kw = dict(reduction=reduction) if ignore is None else dict(reduction=reduction, ignore_index=ignore)
    check(lambda T, F, x, t: F.nll_loss(x, t, **kw), x, t, tol=REDUCE)
    check(lambda T, F, x, t: F.nll_loss(F.log_softmax(x, 1 if x.ndim > 1 else 0), t, **kw), x, t, tol=COMPOSITE)
    if xs != (5,):
        same_names(lambda T, F, x, t: F.nll_loss(x, t, **kw), x, t)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_every_target_ignored(loss):
    check(lambda T, F, x, t: getattr(F, loss)(x, t), randn(3, 4), np.full(3, -100), tol=COMPOSITE)
    check(lambda T, F, x, t: getattr(F, loss)(x, t, reduction="sum"), randn(3, 4), np.full(3, -100), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, dtype):
    x, y = randn(4, 3, dtype=dtype), randn(4, 3, dtype=dtype, seed=1)
    check(lambda T, F, x, y: F.mse_loss(x, y, reduction=reduction), x, y, tol=REDUCE)
    check(lambda T, F, x, y: F.mse_loss(x, y, reduction=reduction), randn(dtype=dtype), randn(dtype=dtype, seed=2),
          tol=REDUCE)
    same_names(lambda T, F, x, y: F.mse_loss(x, y, reduction=reduction), x, y)


def test_mse_loss_warns_as_torch_when_shapes_broadcast():
    x, y = randn(4, 1), randn(4, seed=1)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y))
    with pytest.warns(UserWarning) as ours:
        TF.mse_loss(tinytape.tensor(x), tinytape.tensor(y))
    assert str(ours[0].message) == str(theirs[0].message).replace("torch.Size", "tinytape.Size")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda T, F, x, y: F.mse_loss(x, y), x, y, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((2, 3, 4), (4,)), ((6,), (6,))], ids=str)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm(shape, ns, affine, dtype):
    x = randn(*shape, dtype=dtype, scale=2.0) + 1.0
    w, b = randn(*ns, dtype=dtype, seed=1), randn(*ns, dtype=dtype, seed=2)
    if affine == "both":
        check(lambda T, F, x, w, b: F.layer_norm(x, ns, w, b), x, w, b, tol=COMPOSITE)
    elif affine == "weight":
        check(lambda T, F, x, w: F.layer_norm(x, ns, w, eps=1e-3), x, w, tol=COMPOSITE)
    else:
        check(lambda T, F, x: F.layer_norm(x, ns), x, tol=COMPOSITE)
    same_names(lambda T, F, x: F.layer_norm(x, ns), x)


def test_layer_norm_of_constant_rows():
    check(lambda T, F, x: F.layer_norm(x, (3,)), np.ones((2, 3)), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_dropout_draws_torchs_mask(p, dtype):
    x = randn(8, 16, dtype=dtype)

    def fn(T, F, x):
        T.manual_seed(3)
        return F.dropout(x, p)
    check(fn, x, tol=ULP)
    same_names(fn, x)
    g = tinytape.Generator().manual_seed(5)                # the same stream through random.bernoulli_mask
    mask = tinytape.random.bernoulli_mask((8, 16), 1 - p, dtype, g) if p < 1 else np.zeros((8, 16), dtype)
    tinytape.manual_seed(5)
    out = TF.dropout(tinytape.tensor(x), p)
    np.testing.assert_array_equal(out.numpy(), x * (mask / np.asarray(1 - p, dtype)) if p < 1 else x * 0)


def test_dropout_outside_training_and_p_zero_return_the_input():
    x = tinytape.randn(3, requires_grad=True)
    assert TF.dropout(x, 0.5, training=False) is x
    assert TF.dropout(x, 0.0) is x
    y = tinytape.ones(4)
    tinytape.manual_seed(0)
    TF.dropout(y, 0.5, inplace=True)
    torch.manual_seed(0)
    ty = torch.ones(4)
    torch.nn.functional.dropout(ty, 0.5, inplace=True)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["plain", "causal", "bool", "float", "scale"])
def test_scaled_dot_product_attention(kind, dtype):
    q, k, v = (randn(2, 3, 5, 4, dtype=dtype, seed=s) for s in range(3))
    bool_mask = np.tril(np.ones((5, 5), bool)) | np.eye(5, k=2, dtype=bool)
    kw = {"plain": {}, "causal": {"is_causal": True}, "scale": {"scale": 0.3, "is_causal": True},
          "bool": {"attn_mask": None}, "float": {"attn_mask": None}}[kind]
    if kind == "bool":
        check(lambda T, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), q, k, v, bool_mask,
              tol=COMPOSITE)
    elif kind == "float":
        check(lambda T, F, q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), q, k, v,
              NoGrad(randn(5, 5, dtype=dtype, seed=4)), tol=COMPOSITE)
    else:
        check(lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, **kw), q, k, v, tol=COMPOSITE)


def test_scaled_dot_product_attention_is_the_reference_composition():
    """Key length differs from the query length; the causal mask is the top-left lower triangle."""
    q, k, v = randn(3, 2, 4), randn(3, 6, 4, seed=1), randn(3, 6, 5, seed=2)
    check(lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v, tol=COMPOSITE)
    check(lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v), q, k, v, tol=COMPOSITE,
          torch_fn=lambda T, F, q, k, v: (q @ k.transpose(-2, -1) / math.sqrt(4)).softmax(-1) @ v)


# ---------------------------------------------------------------------------------- shape ops
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("diagonal", [0, 1, -1, 5])
@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu(name, diagonal, dtype):
    for shape in [(4, 5), (2, 3, 3)]:
        x = randn(*shape, dtype=dtype)
        check(lambda T, F, x: getattr(x, name)(diagonal), x)
        check(lambda T, F, x: getattr(T, name)(x, diagonal=diagonal), x)
    check(lambda T, F, x: getattr(T, name)(x), NoGrad(np.arange(12).reshape(3, 4)))
    same_names(lambda T, F, x: getattr(x, name)(diagonal), randn(3, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill_out_of_place(dtype):
    x = randn(3, 4, dtype=dtype)
    m = np.random.default_rng(0).random((3, 4)) > 0.5
    check(lambda T, F, x, m: x.masked_fill(m, -1.5), x, m)
    check(lambda T, F, x, m: T.masked_fill(x, m, float("-inf")), x, m)
    check(lambda T, F, x, m: x.masked_fill(m[0], 2.0), x, m)               # the mask broadcasts
    check(lambda T, F, x, m: x[0].masked_fill(m, 2.0), x, m, tol=REDUCE)   # ... and broadcasts x
    check(lambda T, F, x, m, v: x.masked_fill(m, v), x, m, randn(dtype=dtype, seed=3), tol=REDUCE)
    check(lambda T, F, x, m: x.masked_fill(m, 7), NoGrad(np.arange(12).reshape(3, 4)), m)
    same_names(lambda T, F, x, m: x.masked_fill(m, 0.0), x, m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_and_chunk(dtype):
    x = randn(7, 4, dtype=dtype)
    check(lambda T, F, x: x.split(3), x)
    check(lambda T, F, x: T.split(x, [2, 0, 5]), x)
    check(lambda T, F, x: x.split([1, 3], dim=-1), x)
    check(lambda T, F, x: x.chunk(3), x)
    check(lambda T, F, x: T.chunk(x, 2, -1), x)
    check(lambda T, F, x: x.chunk(10), x)
    check(lambda T, F, x: x.split(3)[1] * 2, x)                            # the other pieces get no gradient
    for f in (lambda T, F, x: x.split(3), lambda T, F, x: x.split([1, 6]), lambda T, F, x: x.chunk(2)):
        same_names(f, x)
    pieces = tinytape.tensor(x).split(3)
    assert all(p._is_view() and np.shares_memory(p.numpy(), x) is False for p in pieces)


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_roll_expand_as(dtype):
    x = randn(2, 3, dtype=dtype)
    check(lambda T, F, x: x.repeat(2, 3), x, tol=REDUCE)
    check(lambda T, F, x: x.repeat((1, 2, 1)), x, tol=REDUCE)
    check(lambda T, F, x: x.repeat(3), randn(dtype=dtype), tol=REDUCE)
    check(lambda T, F, x: x.repeat(2, 0), x, tol=REDUCE)
    check(lambda T, F, x: x.roll(1, 0), x)
    check(lambda T, F, x: x.roll(-4, -1), x)
    check(lambda T, F, x: T.roll(x, (1, -2), (0, 1)), x)
    check(lambda T, F, x: x.roll(2), x)                                    # flattened
    check(lambda T, F, x, y: x.expand_as(y), randn(3, dtype=dtype), randn(4, 3, dtype=dtype), tol=REDUCE)
    for f in (lambda T, F, x: x.repeat(2, 1), lambda T, F, x: x.roll(1, 0)):
        same_names(f, x)


def test_eye_full_like_empty_like():
    for args, kw in [((3,), {}), ((2, 4), {}), ((3,), {"dtype": "int64"}), ((0,), {})]:
        kw = {k: getattr(tinytape, v) for k, v in kw.items()}
        a = tinytape.eye(*args, **kw)
        t = torch.eye(*args, **{k: getattr(torch, str(v).split(".")[-1]) for k, v in kw.items()})
        np.testing.assert_array_equal(a.numpy(), t.numpy())
        assert a.numpy().dtype == t.numpy().dtype
    assert tinytape.eye(2, requires_grad=True).requires_grad
    x = tinytape.tensor([[1.5, 2.0]])
    for a, t in [(tinytape.full_like(x, 7), torch.full_like(torch.tensor([[1.5, 2.0]]), 7)),
                 (tinytape.full_like(x, 2, dtype=tinytape.int64), torch.full_like(torch.tensor([[1.5, 2.0]]), 2,
                                                                                   dtype=torch.int64))]:
        np.testing.assert_array_equal(a.numpy(), t.numpy())
        assert a.numpy().dtype == t.numpy().dtype
    e = tinytape.empty_like(x)
    assert e.shape == x.shape and e.dtype == x.dtype


# ---------------------------------------------------------------------------------- sorting, scans, reductions
@pytest.mark.parametrize("dtype", DTYPES)
def test_topk_and_sort(dtype):
    x = randn(4, 6, dtype=dtype)
    check(lambda T, F, x: x.topk(3), x)
    check(lambda T, F, x: T.topk(x, 2, dim=0, largest=False), x)
    check(lambda T, F, x: x.topk(0), x)
    check(lambda T, F, x: x.sort(), x)
    check(lambda T, F, x: T.sort(x, dim=0, descending=True), x)
    check(lambda T, F, x: x.sort(-1, descending=True), randn(dtype=dtype))
    check(lambda T, F, x: x.argsort(0), x)
    tied = np.array([[3.0, 1.0, 3.0, 1.0, 2.0, 3.0]], dtype)
    check(lambda T, F, x: x.sort(stable=True), tied)
    check(lambda T, F, x: x.sort(descending=True, stable=True), tied)
    check(lambda T, F, x: x.sort(0), NoGrad(np.array([[3, 1], [-2, 5]])))
    out = tinytape.tensor(x).topk(2)
    assert type(out).__name__ == "tinytape.return_types.topk" and out._fields == ("values", "indices")
    assert "tinytape.return_types.sort(" in repr(tinytape.tensor(x).sort())
    same_names(lambda T, F, x: x.topk(2), x)
    same_names(lambda T, F, x: x.sort(), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cumsum(dtype):
    x = randn(3, 5, dtype=dtype)
    for dim in (0, 1, -1, -2):
        check(lambda T, F, x: x.cumsum(dim), x, tol=REDUCE)
    check(lambda T, F, x: T.cumsum(x, 0), randn(dtype=dtype), tol=REDUCE)
    check(lambda T, F, x: x.cumsum(0), NoGrad(np.array([1, 2, 3])))                   # long
    check(lambda T, F, x: x.cumsum(0), NoGrad(np.array([True, True, False])))         # long
    check(lambda T, F, x: x.cumsum(0, dtype=T.float64), x, tol=REDUCE)
    same_names(lambda T, F, x: x.cumsum(1), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prod(dtype):
    x = positive(3, 4, dtype=dtype) * np.array([1, -1, 1, 1], dtype)
    one_zero = x.copy()
    one_zero[1, 2] = 0
    two_zeros = one_zero.copy()
    two_zeros[1, 0] = 0
    for a in (x, one_zero, two_zeros):
        check(lambda T, F, x: x.prod(), a, tol=REDUCE)
        check(lambda T, F, x: x.prod(1), a, tol=REDUCE)
        check(lambda T, F, x: T.prod(x, -2, keepdim=True), a, tol=REDUCE)
    check(lambda T, F, x: x.prod(0), randn(dtype=dtype), tol=REDUCE)
    check(lambda T, F, x: x.prod(), NoGrad(np.array([2, 3, -4])))
    same_names(lambda T, F, x: x.prod(), x)
    same_names(lambda T, F, x: x.prod(0), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", ["fro", 2, 1, float("inf"), 3, 0.5])
def test_norm(p, dtype):
    x = randn(3, 4, dtype=dtype)
    x[0, 1] = x[0, 3] = -3.5                                           # ties for the inf-norm
    check(lambda T, F, x: x.norm(p), x, tol=COMPOSITE)
    check(lambda T, F, x: x.norm(p, dim=1), x, tol=COMPOSITE)
    check(lambda T, F, x: T.norm(x, p, dim=-2, keepdim=True), x, tol=COMPOSITE)
    check(lambda T, F, x: x.norm(p), randn(dtype=dtype), tol=COMPOSITE)
    same_names(lambda T, F, x: x.norm(), x)


def test_norm_of_zeros_has_a_zero_gradient():
    check(lambda T, F, x: x.norm(), np.zeros((2, 3)), tol=COMPOSITE)
    check(lambda T, F, x: x.norm(dim=1), np.array([[0.0, 0.0], [3.0, 4.0]]), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp(dtype):
    x = randn(3, 4, dtype=dtype, scale=3.0)
    for dim in (0, 1, -1, (0, 1)):
        check(lambda T, F, x: x.logsumexp(dim), x, tol=COMPOSITE)
        check(lambda T, F, x: T.logsumexp(x, dim, keepdim=True), x, tol=COMPOSITE)
    check(lambda T, F, x: x.logsumexp(0), randn(dtype=dtype), tol=COMPOSITE)
    big = np.array([[1000.0, 999.0], [-np.inf, -np.inf], [-np.inf, 0.0]], dtype)
    check(lambda T, F, x: x.logsumexp(1), big, tol=COMPOSITE)
    check(lambda T, F, x: T.logsumexp(x, 0), NoGrad(np.array([1, 2, 3])), tol=COMPOSITE)
    same_names(lambda T, F, x: x.logsumexp(1), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_share_ties_evenly(name, dtype):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 0.5, -1.0, 0.5]], dtype)
    for dim in ((), 0, 1, -1, (0, 1)):
        check(lambda T, F, x: getattr(x, name)(dim), x)
        check(lambda T, F, x: getattr(T, name)(x, dim, keepdim=True), x)
    check(lambda T, F, x: getattr(x, name)(), randn(dtype=dtype))
    check(lambda T, F, x: getattr(x, name)(1), NoGrad(np.array([[3, 1], [-2, 5]])))
    same_names(lambda T, F, x: getattr(x, name)(1), x)


@pytest.mark.parametrize("kind", ["bool", "float", "int", "uint8"])
def test_all_any_with_dims(kind):
    base = np.array([[1, 0, 2], [3, 4, 5]])
    a = {"bool": base > 0, "float": base.astype(np.float32), "int": base, "uint8": base.astype(np.uint8)}[kind]
    for name in ("all", "any"):
        for args in ((), (0,), (1,), (-1,)):
            check(lambda T, F, x: getattr(x, name)(*args), NoGrad(a))
            check(lambda T, F, x: getattr(T, name)(x, *args), NoGrad(a))
        check(lambda T, F, x: getattr(x, name)(1, keepdim=True), NoGrad(a))
        check(lambda T, F, x: getattr(x, name)(dim=0), NoGrad(a))


# ---------------------------------------------------------------------------------- method forms
METHODS = {
    "add": lambda T, F, x, y: x.add(y), "add_alpha": lambda T, F, x, y: x.add(y, alpha=2),
    "sub": lambda T, F, x, y: x.sub(y), "mul": lambda T, F, x, y: x.mul(y), "div": lambda T, F, x, y: x.div(y),
    "torch.add": lambda T, F, x, y: T.add(x, y, alpha=0.5), "torch.sub": lambda T, F, x, y: T.sub(x, y),
    "torch.mul": lambda T, F, x, y: T.mul(x, y), "torch.div": lambda T, F, x, y: T.div(x, y),
    "neg": lambda T, F, x, y: x.neg(), "torch.neg": lambda T, F, x, y: T.neg(x),
    "square": lambda T, F, x, y: x.square(), "true_divide": lambda T, F, x, y: x.true_divide(y),
    "where": lambda T, F, x, y: x.where(x > 0, y), "eq": lambda T, F, x, y: x.eq(y), "ne": lambda T, F, x, y: x.ne(y),
    "lt": lambda T, F, x, y: x.lt(y), "le": lambda T, F, x, y: x.le(y), "gt": lambda T, F, x, y: x.gt(0),
    "ge": lambda T, F, x, y: x.ge(y), "softmax": lambda T, F, x, y: x.softmax(-1),
    "log_softmax": lambda T, F, x, y: x.log_softmax(0), "masked_fill": lambda T, F, x, y: x.masked_fill(x > y, 0.5),
    "tril": lambda T, F, x, y: x.tril(), "triu": lambda T, F, x, y: x.triu(-1),
    "maximum": lambda T, F, x, y: x.maximum(y), "minimum": lambda T, F, x, y: x.minimum(y),
    "max_other": lambda T, F, x, y: x.max(y), "min_other": lambda T, F, x, y: x.min(y),
    "max_dim": lambda T, F, x, y: x.max(-1), "amax": lambda T, F, x, y: x.amax(-1),
    "sum": lambda T, F, x, y: x.sum(-1), "mean": lambda T, F, x, y: x.mean(-2),
    "exp": lambda T, F, x, y: x.exp(), "tanh": lambda T, F, x, y: x.tanh(), "relu": lambda T, F, x, y: x.relu(),
    "sigmoid": lambda T, F, x, y: x.sigmoid(), "abs": lambda T, F, x, y: x.abs(), "sin": lambda T, F, x, y: x.sin(),
    "pow": lambda T, F, x, y: x.pow(2), "clamp": lambda T, F, x, y: x.clamp(min=0),
    "remainder": lambda T, F, x, y: x.remainder(1.5), "floor_divide": lambda T, F, x, y: x.detach().floor_divide(y.detach()),
    "view": lambda T, F, x, y: x.view(-1), "expand_as": lambda T, F, x, y: x[:1].expand_as(y),
    "split": lambda T, F, x, y: x.split(1, -1), "chunk": lambda T, F, x, y: x.chunk(2),
    "repeat": lambda T, F, x, y: x.repeat(1, 2), "roll": lambda T, F, x, y: x.roll(1, -1),
    "cumsum": lambda T, F, x, y: x.cumsum(-1), "prod": lambda T, F, x, y: x.prod(-1),
    "norm": lambda T, F, x, y: x.norm(dim=-1), "logsumexp": lambda T, F, x, y: x.logsumexp(-1),
    "topk": lambda T, F, x, y: x.topk(1, -2), "sort": lambda T, F, x, y: x.sort(-2),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_forms(name):
    check(METHODS[name], randn(2, 3), randn(2, 3, seed=1) + 0.5, tol=COMPOSITE)


# ---------------------------------------------------------------------------------- finite differences
def _t(*shape, seed=0, fn=randn):
    return tinytape.tensor(fn(*shape, seed=seed), requires_grad=True)


GRADCHECK = {
    "sin": (lambda x: x.sin(), lambda: [_t(2, 3)]),
    "cos": (lambda x: x.cos(), lambda: [_t(2, 3)]),
    "rsqrt": (lambda x: x.rsqrt(), lambda: [_t(2, 3, fn=positive)]),
    "log1p": (lambda x: x.log1p(), lambda: [_t(2, 3, fn=positive)]),
    "erf": (lambda x: x.erf(), lambda: [_t(2, 3)]),
    "silu": (lambda x: TF.silu(x), lambda: [_t(2, 3)]),
    "gelu": (lambda x: TF.gelu(x), lambda: [_t(2, 3)]),
    "gelu_tanh": (lambda x: TF.gelu(x, approximate="tanh"), lambda: [_t(2, 3)]),
    "maximum": (lambda x, y: tinytape.maximum(x, y), lambda: [_t(2, 3), _t(3, seed=1)]),
    "minimum": (lambda x, y: tinytape.minimum(x, y), lambda: [_t(2, 3), _t(3, seed=1)]),
    "remainder": (lambda x, y: x % y, lambda: [_t(2, 3), _t(2, 3, seed=1, fn=positive)]),
    "tril": (lambda x: x.tril(-1), lambda: [_t(3, 4)]),
    "triu": (lambda x: x.triu(1), lambda: [_t(2, 3, 3)]),
    "roll": (lambda x: x.roll((1, -1), (0, 1)), lambda: [_t(3, 4)]),
    "repeat": (lambda x: x.repeat(2, 1, 2), lambda: [_t(2, 3)]),
    "cumsum": (lambda x: x.cumsum(-1), lambda: [_t(2, 4)]),
    "prod": (lambda x: x.prod(1), lambda: [_t(2, 4)]),
    "prod_zero": (lambda x: (x * tinytape.tensor([[1.0, 0.0, 1.0]])).prod(), lambda: [_t(1, 3)]),
    "norm": (lambda x: x.norm(dim=1), lambda: [_t(2, 4)]),
    "norm_3": (lambda x: x.norm(3), lambda: [_t(2, 4)]),
    "norm_1": (lambda x: x.norm(1, dim=0), lambda: [_t(2, 4)]),
    "norm_inf": (lambda x: x.norm(float("inf"), dim=0), lambda: [_t(2, 4)]),
    "amax": (lambda x: x.amax(1), lambda: [_t(3, 4)]),
    "amin": (lambda x: x.amin((0, 1)), lambda: [_t(3, 4)]),
    "sort": (lambda x: x.sort(-1, descending=True).values, lambda: [_t(3, 4)]),
    "topk": (lambda x: x.topk(2, 0).values, lambda: [_t(3, 4)]),
    "logsumexp": (lambda x: x.logsumexp(-1), lambda: [_t(3, 4)]),
    "layer_norm": (lambda x, w, b: TF.layer_norm(x, (2, 3), w, b), lambda: [_t(2, 2, 3), _t(2, 3, seed=1),
                                                                           _t(2, 3, seed=2)]),
    "cross_entropy_nd": (lambda x: TF.cross_entropy(x, tinytape.tensor([[0, 2], [-100, 1]]), label_smoothing=0.3),
                         lambda: [_t(2, 3, 2)]),
    "nll_loss_nd": (lambda x: TF.nll_loss(x, tinytape.tensor([[0, 2], [1, 1]]), ignore_index=1, reduction="sum"),
                    lambda: [_t(2, 3, 2)]),
    "mse_loss": (lambda x, y: TF.mse_loss(x, y), lambda: [_t(2, 3), _t(2, 3, seed=1)]),
    "masked_fill": (lambda x, v: x.masked_fill(tinytape.tensor([True, False, True]), v), lambda: [_t(2, 3), _t()]),
    "split": (lambda x: x.split([1, 2], 1)[1], lambda: [_t(2, 3)]),
    "sdpa": (lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
             lambda: [_t(1, 3, 2), _t(1, 3, 2, seed=1), _t(1, 3, 2, seed=2)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck(name):
    fn, inputs = GRADCHECK[name]
    assert tinytape.gradcheck(fn, inputs())


# ---------------------------------------------------------------------------------- misuse: torch's errors
def _both(fn):
    """(tinytape's call, torch's call) of fn(T, F, x) on the same float32 (2, 3) input."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    return (lambda: fn(tinytape, TF, tinytape.tensor(a)), lambda: fn(torch, torch.nn.functional, torch.tensor(a)))


MISUSE = {
    "tril-1d": lambda T, F, x: x[0].tril(),
    "repeat-too-few": lambda T, F, x: x.repeat(2),
    "split-sizes": lambda T, F, x: x.split([1, 1], 1),
    "chunk-zero": lambda T, F, x: x.chunk(0),
    "roll-align": lambda T, F, x: x.roll((1, 2), (0,)),
    "topk-k": lambda T, F, x: x.topk(4),
    "norm-long": lambda T, F, x: x.long().norm(),
    "maximum-number": lambda T, F, x: T.maximum(x, 1),
    "and-float": lambda T, F, x: x & x,
    "or-float-scalar": lambda T, F, x: (x > 0) | 1.5,
    "invert-float": lambda T, F, x: ~x,
    "floordiv-zero": lambda T, F, x: x.long() // 0,
    "mod-zero": lambda T, F, x: x.long() % T.zeros(3, dtype=T.int64),
    "masked-fill-long-mask": lambda T, F, x: x.masked_fill(x.long(), 0.0),
    "masked-fill-value-dims": lambda T, F, x: x.masked_fill(x > 0, T.ones(2)),
    "layer-norm-shape": lambda T, F, x: F.layer_norm(x, (4,)),
    "layer-norm-weight": lambda T, F, x: F.layer_norm(x, (3,), T.ones(4)),
    "layer-norm-weight-dtype": lambda T, F, x: F.layer_norm(x, (3,), T.ones(3, dtype=T.float64)),
    "dropout-p": lambda T, F, x: F.dropout(x, 1.5),
    "gelu-approximate": lambda T, F, x: F.gelu(x, approximate="x"),
    "gelu-long": lambda T, F, x: F.gelu(x.long()),
    "silu-long": lambda T, F, x: F.silu(x.long()),
    "ce-smoothing": lambda T, F, x: F.cross_entropy(x, T.tensor([0, 1]), label_smoothing=1.5),
    "ce-nd-target-size": lambda T, F, x: F.cross_entropy(x[None], T.zeros(1, 4, dtype=T.int64)),
    "ce-nd-float-target": lambda T, F, x: F.cross_entropy(x[None], T.zeros(1, 3)),
    "ce-target-range": lambda T, F, x: F.cross_entropy(x, T.tensor([0, 3]), ignore_index=-1),
    "nll-target-range": lambda T, F, x: F.nll_loss(x, T.tensor([-1, 0]), ignore_index=1),
    "ce-reduction": lambda T, F, x: F.cross_entropy(x, T.tensor([0, 1]), reduction="avg"),
    "sdpa-mask-and-causal": lambda T, F, x: F.scaled_dot_product_attention(
        x[None], x[None], x[None], attn_mask=T.ones(2, 2, dtype=T.bool), is_causal=True),
}


@pytest.mark.parametrize("name", sorted(MISUSE))
def test_misuse_raises_torchs_error(name):
    ours, theirs = _both(MISUSE[name])
    with pytest.raises(Exception) as t:
        theirs()
    with pytest.raises(type(t.value)) as e:
        ours()
    assert str(e.value) == str(t.value)
