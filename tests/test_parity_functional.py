"""Parity with torch.nn.functional: softmax, log_softmax, cross_entropy, nll_loss, one_hot, embedding,
linear, mse_loss, batch_norm (training biased and unbiased, eval, running statistics)."""
import numpy as np
import pytest
import torch

import tinytape
import tinytape.functional as TF
from harness import COMPOSITE, EXACT, REDUCE, NoGrad, assert_close, check, randn

DTYPES = [np.float32, np.float64]


def _targets(n, c, seed=0):
    t = np.random.default_rng(seed).integers(0, c, n).astype(np.int64)
    t[:3] = t[0]                                          # repeated classes
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((4, 5), 0), ((4, 5), -1), ((2, 3, 4), 1),
                                       ((2, 3, 4), -1), ((6,), 0), ((32, 27), 1)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_log_softmax(name, shape, dim, dtype):
    x = randn(*shape, dtype=dtype, scale=3.0)
    out, *_ = check(lambda T, F, x: getattr(F, name)(x, dim), x, tol=COMPOSITE)
    assert out[0].dtype == dtype
    check(lambda T, F, x: getattr(F, name)(x, dim=dim), x, tol=COMPOSITE)
    check(lambda T, F, x: getattr(T, name)(x, dim), x, tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_is_stable_for_large_logits(name, dtype):
    x = np.array([[1000.0, 0.0, -1000.0], [88.0, 89.0, 90.0], [-500.0, -500.0, -500.0]], dtype=dtype)
    check(lambda T, F, x: getattr(F, name)(x, 1), x, tol=COMPOSITE)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_implicit_dim_follows_torch(name):
    import warnings
    for shape in [(5,), (3, 4), (2, 3, 4)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch warns that the implicit dim is deprecated
            check(lambda T, F, x: getattr(F, name)(x), randn(*shape), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction, dtype):
    logits = randn(32, 27, dtype=dtype, scale=2.0)
    y = _targets(32, 27)
    out, *_ = check(lambda T, F, x, y: F.cross_entropy(x, y, reduction=reduction), logits, y,
                    tol=COMPOSITE)
    assert out[0].dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_default_is_mean_and_matches_the_lecture_chain(dtype):
    logits = randn(8, 5, dtype=dtype)
    y = _targets(8, 5, seed=2)
    check(lambda T, F, x, y: F.cross_entropy(x, y), logits, y, tol=COMPOSITE)
    # the fused op against torch running the lecture's chunked forward on the same logits
    check(lambda T, F, x, y: F.cross_entropy(x, y), logits, y, tol=COMPOSITE,
          torch_fn=lambda T, F, x, y: -(x - x.max(1, keepdim=True).values).exp().div(
              (x - x.max(1, keepdim=True).values).exp().sum(1, keepdim=True)).log()[range(8), y].mean())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_one_dimensional_logits(reduction, dtype):
    """(C,) logits with a 0-d target, as torch allows."""
    check(lambda T, F, x, y: F.cross_entropy(x, y, reduction=reduction), randn(7, dtype=dtype),
          np.array(4), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_extreme_logits(dtype):
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], [-80.0, 80.0, 0.0]], dtype=dtype)
    check(lambda T, F, x, y: F.cross_entropy(x, y), logits, np.array([2, 1, 1]), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, dtype):
    x = randn(10, 6, dtype=dtype)
    y = _targets(10, 6, seed=3)
    check(lambda T, F, x, y: F.nll_loss(F.log_softmax(x, 1), y, reduction=reduction), x, y, tol=COMPOSITE)
    check(lambda T, F, x, y: F.nll_loss(x, y, reduction=reduction), x, y, tol=REDUCE)


def test_one_hot():
    idx = np.array([[0, 3, 3], [26, 1, 0]])
    for kw in ({"num_classes": 27}, {}, {"num_classes": -1}):
        out, *_ = check(lambda T, F, i: F.one_hot(i, **kw), idx, tol=EXACT)
        assert out[0].dtype == np.int64
    check(lambda T, F, i: F.one_hot(i, 5), np.array([4, 0, 2, 2]), tol=EXACT)
    check(lambda T, F, i: F.one_hot(i), np.array(3), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_times_a_gradient_as_the_lecture(dtype):
    """`F.one_hot(logits.max(1).indices, num_classes=27) * dlogit_maxes`."""
    logits = randn(32, 27, dtype=dtype, seed=4)
    check(lambda T, F, x, d: F.one_hot(x.max(1).indices, num_classes=27) * d, logits, randn(32, 1, dtype=dtype),
          tol=EXACT, grad_tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_repeated_indices(dtype):
    idx = np.random.default_rng(1).integers(0, 27, (32, 3))
    idx[:5] = 7                                           # heavy repetition
    check(lambda T, F, i, w: F.embedding(i, w), idx, randn(27, 10, dtype=dtype), tol=EXACT, grad_tol=REDUCE)
    check(lambda T, F, i, w: F.embedding(i, w), np.array([2, 2, 0]), randn(4, 3, dtype=dtype), tol=EXACT,
          grad_tol=REDUCE)
    check(lambda T, F, i, w: F.embedding(i, w), np.array(1), randn(4, 3, dtype=dtype), tol=EXACT)
    # empty rows or an empty index, any index shape
    check(lambda T, F, i, w: F.embedding(i, w), np.array(0), randn(1, 0, dtype=dtype), tol=EXACT)
    check(lambda T, F, i, w: F.embedding(i, w), np.zeros((2, 0), np.int64), randn(3, 2, dtype=dtype), tol=EXACT)
    check(lambda T, F, i, w: F.embedding(i, w), idx.reshape(4, 8, 3), randn(27, 2, dtype=dtype), tol=EXACT,
          grad_tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype):
    x, w, b = randn(5, 4, dtype=dtype, seed=1), randn(3, 4, dtype=dtype, seed=2), randn(3, dtype=dtype, seed=3)
    check(lambda T, F, x, w, b: F.linear(x, w, b), x, w, b, tol=REDUCE)
    check(lambda T, F, x, w: F.linear(x, w), x, w, tol=REDUCE)
    check(lambda T, F, x, w, b: F.linear(x, w, b), randn(4, dtype=dtype), w, b, tol=REDUCE)
    check(lambda T, F, x, w, b: F.linear(x, w, b), randn(2, 5, 4, dtype=dtype), w, b, tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, dtype):
    x, y = randn(6, 3, dtype=dtype, seed=1), randn(6, 3, dtype=dtype, seed=2)
    check(lambda T, F, x, y: F.mse_loss(x, y, reduction=reduction), x, y, tol=REDUCE)
    check(lambda T, F, x, y: F.mse_loss(x, y, reduction=reduction), x, NoGrad(y), tol=REDUCE)


# ---------------------------------------------------------------------------------- batch norm
def _bn_inputs(dtype, n=32, c=16):
    x = randn(n, c, dtype=dtype, seed=11, scale=2.0) + randn(c, dtype=dtype, seed=12)
    return x, (1.0 + 0.1 * randn(c, dtype=dtype, seed=13)).astype(dtype), (0.1 * randn(c, dtype=dtype, seed=14)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_training_biased_against_torch(dtype):
    x, w, b = _bn_inputs(dtype)
    check(lambda T, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b, tol=COMPOSITE)
    check(lambda T, F, x: F.batch_norm(x, None, None, training=True), x, tol=COMPOSITE)
    check(lambda T, F, x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-3), x, w, b, tol=COMPOSITE)


def _lecture_bn(T, F, x, g, b):
    n = x.shape[0]
    bnmeani = 1 / n * x.sum(0, keepdim=True)
    bndiff = x - bnmeani
    bnvar = 1 / (n - 1) * (bndiff ** 2).sum(0, keepdim=True)
    return g * (bndiff * (bnvar + 1e-5) ** -0.5) + b


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_training_unbiased_against_the_lecture_formula(dtype):
    """unbiased=True is the lecture's batchnorm (Bessel's correction), run as torch ops in torch."""
    x, w, b = _bn_inputs(dtype)
    w, b = w.reshape(1, -1), b.reshape(1, -1)
    check(lambda T, F, x, w, b: F.batch_norm(x, None, None, w, b, training=True, unbiased=True), x, w, b,
          tol=COMPOSITE, torch_fn=_lecture_bn)
    check(lambda T, F, x: F.batch_norm(x, None, None, training=True, unbiased=True), x, tol=COMPOSITE,
          torch_fn=lambda T, F, x: _lecture_bn(T, F, x, 1.0, 0.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_fused_agrees_with_the_chain_of_primitives(dtype):
    """The fused rule and the tape through the lecture's primitives, both in tinytape."""
    x, w, b = _bn_inputs(dtype)
    w, b = w.reshape(1, -1), b.reshape(1, -1)
    g = randn(*x.shape, dtype=dtype, seed=5)
    grads = []
    for fused in (True, False):
        ts = [tinytape.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = TF.batch_norm(ts[0], None, None, ts[1], ts[2], training=True, unbiased=True) if fused \
            else _lecture_bn(tinytape, TF, *ts)
        out.backward(g)
        grads.append([out.detach().numpy()] + [t.grad.numpy() for t in ts])
    for a, r in zip(*grads):
        assert_close(a, r, COMPOSITE, "fused vs chain")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval_against_torch(dtype):
    x, w, b = _bn_inputs(dtype)
    rm = randn(16, dtype=dtype, seed=21)
    rv = (1.0 + np.abs(randn(16, dtype=dtype, seed=22))).astype(dtype)
    check(lambda T, F, x, w, b, m, v: F.batch_norm(x, m, v, w, b, training=False), x, w, b,
          NoGrad(rm), NoGrad(rv), tol=COMPOSITE)
    check(lambda T, F, x, m, v: F.batch_norm(x, m, v), x, NoGrad(rm), NoGrad(rv), tol=COMPOSITE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.001])
def test_batch_norm_running_stats_update_like_torch(momentum, dtype):
    """Training updates the running mean, and the running variance with the unbiased batch
    variance, in place, as torch's F.batch_norm does, for biased and unbiased normalisation."""
    x, w, b = _bn_inputs(dtype)
    rm0 = randn(16, dtype=dtype, seed=21)
    rv0 = (1.0 + np.abs(randn(16, dtype=dtype, seed=22))).astype(dtype)
    t_rm, t_rv = torch.tensor(rm0), torch.tensor(rv0)
    torch.nn.functional.batch_norm(torch.tensor(x), t_rm, t_rv, torch.tensor(w), torch.tensor(b),
                                   training=True, momentum=momentum)
    for unbiased in (False, True):
        for wrap in (tinytape.tensor, np.array):          # tensors or numpy arrays as buffers
            rm, rv = wrap(rm0.copy()), wrap(rv0.copy())
            before = np.asarray(rm)
            TF.batch_norm(tinytape.tensor(x, requires_grad=True), rm, rv, tinytape.tensor(w),
                          tinytape.tensor(b), training=True, momentum=momentum, unbiased=unbiased)
            rm_a, rv_a = np.asarray(rm), np.asarray(rv)
            assert rm_a is before                          # updated in place
            assert_close(rm_a, t_rm.numpy(), REDUCE, "running_mean")
            assert_close(rv_a, t_rv.numpy(), REDUCE, "running_var")
    # eval does not touch them
    rm, rv = tinytape.tensor(rm0.copy()), tinytape.tensor(rv0.copy())
    TF.batch_norm(tinytape.tensor(x), rm, rv, training=False)
    np.testing.assert_array_equal(rm.numpy(), rm0)
    np.testing.assert_array_equal(rv.numpy(), rv0)
