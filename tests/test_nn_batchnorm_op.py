"""tinytape.functional.batch_norm, the fused op under nn.BatchNorm1d, in both variance modes:
against the same computation as a chain of elementary tinytape ops (the lecture's exercise-1
forward), against torch, and against finite differences."""
import numpy as np
import pytest
import torch

import tinytape
import tinytape.functional as F

TOL = {np.float32: (1e-4, 1e-5, 1e-7), np.float64: (1e-10, 1e-12, 0.0)}   # PRECISION.md, composite
TORCH = {np.float32: torch.float32, np.float64: torch.float64}
EPS = 1e-5


def assert_close(actual, expected, what=""):
    actual = np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    rtol, floor, const = TOL[expected.dtype.type]
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > floor * float(np.abs(expected).max()) + const + rtol * np.abs(expected)
    assert not bad.any(), f"{what}: {bad.sum()} elements off, max diff {err.max():.3e}"


def inputs(dtype, n=32, c=64, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3 + 1).astype(dtype)
    gain = (1 + 0.1 * rng.standard_normal((1, c))).astype(dtype)   # the lecture's bngain, bnbias
    bias = (0.1 * rng.standard_normal((1, c))).astype(dtype)
    g = rng.standard_normal((n, c)).astype(dtype)                  # a random upstream gradient
    return x, gain, bias, g


def chain(hprebn, bngain, bnbias, unbiased):
    """The lecture's exercise-1 forward of batchnorm, one elementary op at a time."""
    n = hprebn.shape[0]
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = (1 / (n - 1) if unbiased else 1 / n) * bndiff2.sum(0, keepdim=True)
    bnvar_inv = (bnvar + EPS)**-0.5
    bnraw = bndiff * bnvar_inv
    return bngain * bnraw + bnbias


def fused(x, gain, bias, unbiased, rm=None, rv=None):
    return F.batch_norm(x, rm, rv, gain, bias, training=True, momentum=0.1, eps=EPS, unbiased=unbiased)


def grads(fn, x, gain, bias, g, lib):
    ts = [lib.tensor(a, requires_grad=True) for a in (x, gain, bias)]
    out = fn(*ts)
    out.backward(lib.tensor(g))
    val = out.data if lib is tinytape else out.detach().numpy()
    return [val] + [t.grad if lib is tinytape else t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unbiased", [True, False])
def test_fused_equals_the_chain_of_elementary_ops(dtype, unbiased):
    x, gain, bias, g = inputs(dtype)
    want = grads(lambda *t: chain(*t, unbiased), x, gain, bias, g, tinytape)
    got = grads(lambda *t: fused(*t, unbiased), x, gain, bias, g, tinytape)
    for name, a, b in zip(("out", "dhprebn", "dbngain", "dbnbias"), got, want):
        assert_close(a, b, name)


def torch_reference(unbiased):
    if unbiased:                                        # the lecture's own torch code
        return lambda x, gain, bias: chain(x, gain, bias, True)
    return lambda x, gain, bias: torch.nn.functional.batch_norm(
        x, None, None, gain[0], bias[0], training=True, eps=EPS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unbiased", [True, False])
def test_fused_matches_torch(dtype, unbiased):
    x, gain, bias, g = inputs(dtype, seed=1)
    got = grads(lambda *t: fused(*t, unbiased), x, gain, bias, g, tinytape)
    want = grads(torch_reference(unbiased), x, gain, bias, g, torch)
    for name, a, b in zip(("out", "dx", "dgain", "dbias"), got, want):
        assert_close(a, b, name)


@pytest.mark.parametrize("unbiased", [True, False])
def test_fused_backward_passes_gradcheck(unbiased):
    x, gain, bias, _ = inputs(np.float64, n=6, c=4, seed=2)
    ts = [tinytape.tensor(a, requires_grad=True) for a in (x, gain, bias)]
    assert tinytape.gradcheck(lambda *t: fused(*t, unbiased), ts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("unbiased", [True, False])
def test_running_statistics_update_like_torch(dtype, unbiased):
    """The running variance is the unbiased one in both modes, as torch's."""
    x, gain, bias, _ = inputs(dtype, seed=3)
    rm, rv = np.zeros(64, dtype), np.ones(64, dtype)
    trm, trv = torch.zeros(64, dtype=TORCH[dtype]), torch.ones(64, dtype=TORCH[dtype])
    for _ in range(2):
        fused(tinytape.tensor(x), tinytape.tensor(gain), tinytape.tensor(bias), unbiased, rm, rv)
        torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, training=True, momentum=0.1, eps=EPS)
        x = x * 0.5 + 2
    assert_close(rm, trm, "running_mean")
    assert_close(rv, trv, "running_var")


def test_the_fused_op_is_one_tape_entry_and_its_gain_gradient_fits_a_1d_weight():
    x, gain, bias, g = inputs(np.float32, seed=4)
    w = tinytape.tensor(gain[0], requires_grad=True)                 # torch's (C,) layout
    out = fused(tinytape.tensor(x, requires_grad=True), w, tinytape.tensor(bias[0], requires_grad=True), True)
    ref = torch.nn.functional.batch_norm(torch.from_numpy(x).requires_grad_(), None, None, torch.from_numpy(gain[0]),
                                         torch.from_numpy(bias[0]), training=True, eps=EPS)
    assert out.grad_fn.name() == ref.grad_fn.name() == "NativeBatchNormBackward0"
    assert all(f is not None and f.name() == "torch::autograd::AccumulateGrad"
               for f, _ in out.grad_fn.next_functions)               # one node: straight to the three leaves
    out.backward(g)
    assert w.grad.shape == (64,)
    want = grads(lambda *t: chain(*t, True), x, gain, bias, g, tinytape)[2]
    assert_close(w.grad, want[0], "dgain")


def test_one_example_is_refused_and_statistics_untouched():
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        fused(tinytape.ones(1, 3), None, None, True, rm, rv)
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)
