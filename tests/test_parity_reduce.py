"""Parity with torch for the reductions: sum, mean, var, std (every dim form, keepdim and keepdims=,
unbiased and correction=), max/min with and without dim (tie conventions), argmax/argmin."""
import numpy as np
import pytest

import tinytape
import tinytape.functional as TF
from harness import COMPOSITE, EXACT, REDUCE, assert_close, check, randn

DTYPES = [np.float32, np.float64]
# var over a size-1 dim with correction >= 1 is torch's nan/inf case, where torch warns
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning")

# (shape, dim) pairs: None, int, negative, tuple, a 0-d tensor and size-1 dims
DIMS = [((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((3, 4), -2), ((3, 4), (0, 1)),
        ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0)), ((2, 3, 4), 1), ((2, 1, 4), 1), ((5,), 0),
        ((), None), ((), 0), ((2, 3, 4), ()), ((32, 27), 1)]


def _dim_kw(dim):
    return {"dim": dim}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", DIMS, ids=str)
def test_sum(shape, dim, keepdim, dtype):
    x = randn(*shape, dtype=dtype)
    kw = _dim_kw(dim)
    out, *_ = check(lambda T, F, x: x.sum(**kw, keepdim=keepdim), x, tol=REDUCE, grad_tol=EXACT)
    assert out[0].dtype == dtype
    check(lambda T, F, x: T.sum(x, **kw, keepdim=keepdim), x, tol=REDUCE, grad_tol=EXACT)
    if dim is not None:
        check(lambda T, F, x: x.sum(dim, keepdims=keepdim), x, tol=REDUCE, grad_tol=EXACT)
        check(lambda T, F, x: x.sum(dim, keepdim), x, tol=REDUCE, grad_tol=EXACT)
    else:
        check(lambda T, F, x: x.sum(), x, tol=REDUCE, grad_tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", DIMS, ids=str)
def test_mean(shape, dim, keepdim, dtype):
    x = randn(*shape, dtype=dtype)
    kw = _dim_kw(dim)
    check(lambda T, F, x: x.mean(**kw, keepdim=keepdim), x, tol=REDUCE, grad_tol=EXACT)
    check(lambda T, F, x: T.mean(x, **kw, keepdim=keepdim), x, tol=REDUCE, grad_tol=EXACT)
    if dim is not None:
        check(lambda T, F, x: x.mean(dim, keepdims=keepdim), x, tol=REDUCE, grad_tol=EXACT)
    else:
        check(lambda T, F, x: x.mean(), x, tol=REDUCE, grad_tol=EXACT)


VAR_DIMS = [d for d in DIMS if d[0] != () and d[1] != ()]
# keyword forms of the variance: torch's unbiased= and correction=
VAR_KW = [{}, {"unbiased": True}, {"unbiased": False}, {"correction": 0}, {"correction": 1},
          {"correction": 2}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("kw", VAR_KW, ids=str)
@pytest.mark.parametrize("shape,dim", VAR_DIMS, ids=str)
def test_var(shape, dim, kw, keepdim, dtype):
    x = randn(*shape, dtype=dtype, seed=4)
    dkw = _dim_kw(dim)
    check(lambda T, F, x: x.var(**dkw, keepdim=keepdim, **kw), x, tol=REDUCE)
    check(lambda T, F, x: T.var(x, **dkw, keepdim=keepdim, **kw), x, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_var_positional_forms(dtype):
    """x.var(dim, unbiased, keepdim) positionally, as torch's old signature; var is unbiased by default."""
    x = randn(6, 5, dtype=dtype)
    check(lambda T, F, x: x.var(0, False, True), x, tol=REDUCE)
    check(lambda T, F, x: x.var(1, True), x, tol=REDUCE)
    check(lambda T, F, x: x.var(), x, tol=REDUCE)
    check(lambda T, F, x: x.var(0, keepdim=True) - x.var(0, keepdim=True, unbiased=True), x, tol=REDUCE)
    check(lambda T, F, x: x.var(1, keepdims=True), x, tol=REDUCE,
          torch_fn=lambda T, F, x: x.var(1, keepdim=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": 1, "keepdim": True}, {"dim": 0, "unbiased": False},
                                {"dim": 1, "correction": 0}], ids=str)
def test_std(kw, dtype):
    x = randn(5, 4, dtype=dtype, seed=6)
    check(lambda T, F, x: x.std(**kw), x, tol=REDUCE)
    check(lambda T, F, x: T.std(x, **kw), x, tol=REDUCE)


# ---------------------------------------------------------------------------------- max / min
MAX_DIMS = [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((5,), 0), ((), 0), ((2, 1, 3), 1),
            ((32, 27), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", MAX_DIMS, ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim(name, shape, dim, keepdim, dtype):
    """(values, indices) both compared; the gradient goes one-hot to the returned index."""
    x = randn(*shape, dtype=dtype, seed=7)
    out, *_ = check(lambda T, F, x: tuple(getattr(x, name)(dim, keepdim=keepdim)), x, tol=EXACT)
    assert out[1].dtype == np.int64
    check(lambda T, F, x: getattr(x, name)(dim, keepdim).values, x, tol=EXACT)
    check(lambda T, F, x: getattr(x, name)(dim=dim, keepdim=keepdim).indices, x, tol=EXACT)
    check(lambda T, F, x: getattr(T, name)(x, dim, keepdim)[0], x, tol=EXACT)


TIES = np.array([[1.0, 3.0, 3.0, 0.0],
                 [2.0, 2.0, 2.0, 2.0],
                 [-1.0, -5.0, -1.0, -5.0]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_ties_route_to_the_first_index(name, dim, dtype):
    """torch.max(x, dim): the first maximal index is returned and gets the whole gradient."""
    x = TIES.astype(dtype)
    out, _, grads, _ = check(lambda T, F, x: tuple(getattr(T, name)(x, dim)), x, tol=EXACT)
    assert np.count_nonzero(grads[0]) == out[0].numel()      # one-hot per reduced slice


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim_ties_share_the_gradient(name, dtype):
    """torch.max(x) over everything: tied extremes split the gradient evenly."""
    for x in (TIES, np.array([[3.0, 1.0], [3.0, 3.0]]), np.array([5.0]), np.array(2.5),
              randn(4, 5, seed=8)):
        x = x.astype(dtype)
        check(lambda T, F, x: getattr(x, name)(), x, tol=EXACT)
        check(lambda T, F, x: getattr(T, name)(x), x, tol=EXACT)


def test_max_of_lecture_logits_keepdim_values():
    """The lecture's `logits.max(1, keepdim=True).values`, with a tie planted in a row."""
    logits = randn(32, 27, dtype=np.float32, seed=9)
    logits[3, 5] = logits[3, 7] = logits[3].max() + 1
    check(lambda T, F, x: x - x.max(1, keepdim=True).values, logits, tol=EXACT, grad_tol=REDUCE)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name):
    for x, kws in ((TIES, [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}]),
                   (randn(3, 4, 5, seed=2), [{}, {"dim": 2}, {"dim": 1, "keepdim": True}]),
                   (np.array(1.5), [{}, {"dim": 0}])):
        for kw in kws:
            out, *_ = check(lambda T, F, x: getattr(x, name)(**kw), x, tol=EXACT)
            assert out[0].dtype == np.int64 and not out[0].requires_grad
            check(lambda T, F, x: getattr(T, name)(x, **kw), x, tol=EXACT)


def test_sum_of_integer_and_bool_tensors():
    check(lambda T, F, x: x.sum(), np.array([[1, 2], [3, 4]], dtype=np.int64), tol=EXACT)
    check(lambda T, F, x: x.sum(0), np.array([[1, 2], [3, 4]], dtype=np.int32), tol=EXACT)
    check(lambda T, F, x: x.sum(1), np.array([[True, False], [True, True]]), tol=EXACT)
    check(lambda T, F, x: (x > 0).sum(), randn(3, 4), tol=EXACT)


# ---------------------------------------------------------------------------------- many rows
def _tall(rows, cols=16, seed=0):
    """Rows of N(3, 1): a mean far from zero, where row-by-row float32 accumulation drifts."""
    return (np.random.default_rng(seed).standard_normal((rows, cols)) + 3).astype(np.float32)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
def test_float32_reductions_over_the_whole_training_set_are_accurate(name):
    """182,625 rows (the lecture's training set): numpy's own float32 sum along dim 0 is off by
    2.4e-5 (mean) and 6.3e-5 (var) relative, beyond PRECISION.md's 1e-5; torch is within 3e-7.
    tinytape must match torch within the REDUCE class and the float64 truth within 1e-6."""
    import torch
    h = _tall(182_625)
    got = getattr(tinytape.tensor(h), name)(0).numpy()
    ref = getattr(torch.from_numpy(h), name)(0).numpy()
    truth = getattr(torch.from_numpy(h.astype(np.float64)), name)(0).numpy()
    assert got.dtype == np.float32
    assert_close(got, ref, REDUCE, name)
    assert np.abs(got - truth).max() <= 1e-6 * np.abs(truth).max(), name


def test_batch_norm_statistics_over_many_rows_are_accurate():
    import torch
    h = _tall(65_536)
    rm, rv = np.zeros(16, np.float32), np.ones(16, np.float32)
    out = TF.batch_norm(tinytape.tensor(h), rm, rv, training=True, momentum=1.0)
    trm, trv = torch.zeros(16), torch.ones(16)
    ref = torch.nn.functional.batch_norm(torch.from_numpy(h), trm, trv, training=True, momentum=1.0)
    assert_close(rm, trm.numpy(), REDUCE, "running_mean")
    assert_close(rv, trv.numpy(), REDUCE, "running_var")
    assert_close(out.numpy(), ref.numpy(), COMPOSITE, "output")


@pytest.mark.parametrize("shape,dim", [((32, 200), 0), ((32, 27), 1), ((1023, 3), 0), ((31, 33), None)], ids=str)
def test_small_reductions_are_the_plain_numpy_expressions_bit_for_bit(shape, dim):
    """Below 1024 terms per result the forward is exactly a learner's float32 numpy (the exercises
    compare the tape with hand-written numpy to the last bit)."""
    x = _tall(*shape) if len(shape) == 2 else None
    n = x.size if dim is None else x.shape[dim]
    t = tinytape.tensor(x)
    np.testing.assert_array_equal(t.sum(dim).numpy(), x.sum(dim))
    np.testing.assert_array_equal(t.mean(dim).numpy(), x.sum(dim) / n)
    diff = x - x.sum(dim, keepdims=True) / n
    np.testing.assert_array_equal(t.var(dim).numpy(), (diff * diff).sum(dim) / (n - 1))
    if dim == 0:
        rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
        out = TF.batch_norm(t, rm, rv, training=True, unbiased=True)
        mean = 1 / n * x.sum(0, keepdims=True)
        bndiff = x - mean
        var = 1 / (n - 1) * (bndiff**2).sum(0, keepdims=True)
        np.testing.assert_array_equal(out.numpy(), bndiff * (var + 1e-5) ** -0.5)
