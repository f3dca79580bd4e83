"""nn's layers against torch.nn: Module mechanics, Embedding, Flatten, Linear, Tanh, Sequential,
and BatchNorm1d in both variance modes (torch's default against torch.nn.BatchNorm1d, the lecture's
Bessel-corrected one against the lecture's own torch formula), in training and eval."""
import numpy as np
import pytest
import torch

import nn
import tinytape
from tinytape import tape

# PRECISION.md's composite class: rtol, absolute floor as a fraction of max|reference|, constant
TOL = {np.float32: (1e-4, 1e-5, 1e-7), np.float64: (1e-10, 1e-12, 0.0)}
TORCH = {np.float32: torch.float32, np.float64: torch.float64}
DTYPES = [np.float32, np.float64]


def assert_close(actual, expected, what=""):
    actual = np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} vs {expected.dtype}"
    rtol, floor, const = TOL[expected.dtype.type]
    atol = floor * float(np.abs(expected).max(initial=0)) + const
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > atol + rtol * np.abs(expected)
    assert not bad.any(), f"{what}: {bad.sum()} elements off, max diff {err.max():.3e}"


def randn(rng, *shape, dtype=np.float64, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


# ---------------------------------------------------------------------------------- Module
class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4, generator=np.random.default_rng(0))
        self.scale = nn.Parameter(np.ones(4, np.float32))
        self.b = nn.Linear(4, 2, bias=False, generator=np.random.default_rng(1))
        self.register_buffer("count", tinytape.tensor(0))
        self.note = "not registered"
        self.cache = tinytape.zeros(3)                   # does not require grad: not a parameter

    def forward(self, x):
        return self.b(self.a(x).tanh() * self.scale)


class TorchTwo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(3, 4)
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.b = torch.nn.Linear(4, 2, bias=False)
        self.register_buffer("count", torch.tensor(0))
        self.note = "not registered"
        self.cache = torch.zeros(3)


def test_module_registers_in_torchs_order():
    m, ref = Two(), TorchTwo()
    names = [n for n, _ in m.named_parameters()]
    assert names == [n for n, _ in ref.named_parameters()] == ["scale", "a.weight", "a.bias", "b.weight"]
    assert m.parameters()[0] is m.scale and m.parameters()[1] is m.a.weight
    assert [n for n, _ in m.named_buffers()] == ["count"]
    assert [n for n, _ in m.named_children()] == ["a", "b"]
    assert list(m.state_dict()) == names + ["count"]
    assert set(m.state_dict()) == set(ref.state_dict())
    assert m.num_parameters() == 3 * 4 + 4 + 4 + 4 * 2
    m.a.bias = None                                      # reassigning drops the parameter
    assert [n for n, _ in m.named_parameters()] == ["scale", "a.weight", "b.weight"]
    assert m(tinytape.ones(5, 3)).shape == (5, 2)


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(seq.parameters()) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_train_eval_reach_every_submodule_and_zero_grad():
    m = Two()
    assert m.training and m.a.training
    assert m.eval() is m and not m.training and not m.a.training and not m.b.training
    m.train()
    assert m.training and m.b.training
    m(tinytape.ones(5, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_assigning_before_init_says_to_call_super():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_parameter_shares_data_and_requires_grad():
    t = tinytape.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and not t.requires_grad and p is not t
    assert np.shares_memory(np.asarray(p.data), np.asarray(t))            # torch's Parameter(t): t's storage
    t[0] = 5.0
    assert p.data[0].item() == 5.0
    assert nn.Parameter(np.zeros(3)).dtype == np.float64


def test_load_state_dict_checks_everything_before_writing():
    m = Two()
    before = {k: v.copy() for k, v in m.state_dict().items()}
    bad = dict(before)
    bad["a.weight"] = np.zeros((4, 3), np.float32)        # torch's (out, in) layout
    del bad["scale"]
    bad["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert "missing 'scale'" in msg and "unexpected 'extra'" in msg
    assert "'a.weight' has shape (4, 3), the module's is (3, 4)" in msg and "Linear.load_torch" in msg
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="cannot be stored as"):
        m.load_state_dict({**before, "count": np.array(1.5)})


# ---------------------------------------------------------------------------------- simple layers
def backward_both(ours_out, ref_out, rng):
    g = randn(rng, *ours_out.shape, dtype=ours_out.dtype)  # a random upstream gradient
    ours_out.backward(g)
    ref_out.backward(torch.from_numpy(g))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_matches_torch_with_its_weight_loaded(dtype):
    rng = np.random.default_rng(1)
    ref = torch.nn.Linear(30, 20, dtype=TORCH[dtype])
    ours = nn.Linear(30, 20, dtype=dtype).load_torch(ref.weight.detach().numpy(), ref.bias.detach().numpy())
    assert ours.weight.shape == (30, 20)                 # the lecture's layout: x @ W + b
    x = randn(rng, 32, 30, dtype=dtype)
    xt, xo = torch.from_numpy(x).requires_grad_(), tinytape.tensor(x, requires_grad=True)
    out, rout = ours(xo), ref(xt)
    assert_close(out.data, rout, "out")
    backward_both(out, rout, rng)
    assert_close(xo.grad, xt.grad, "dx")
    assert_close(ours.weight.grad.T, ref.weight.grad, "dW")
    assert_close(ours.bias.grad, ref.bias.grad, "db")


def test_linear_init_bias_and_torch_loading_errors():
    lin = nn.Linear(16, 8, generator=np.random.default_rng(0))
    assert lin.weight.dtype == np.float32 and lin.bias.shape == (8,)
    assert np.abs(lin.weight.data).max() <= 0.25 and np.abs(lin.weight.data).max() > 0.2   # U(-1/4, 1/4)
    nobias = nn.Linear(16, 8, bias=False)
    assert nobias.bias is None and len(nobias.parameters()) == 1
    with pytest.raises(ValueError, match=r"has shape \(8, 16\) \(out, in\), got \(16, 8\)"):
        lin.load_torch(np.zeros((16, 8)))
    with pytest.raises(ValueError, match="has no bias"):
        nobias.load_torch(np.zeros((8, 16)), np.zeros(8))
    w = lin.weight.data.clone()
    with pytest.raises(ValueError):
        lin.load_torch(np.zeros((8, 16)), np.zeros(7))   # a bad bias leaves the weight alone too
    np.testing.assert_array_equal(lin.weight.data, w)
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Linear(2, 2, dtype=np.int64)
    with pytest.raises(TypeError, match="generator"):
        nn.Linear(2, 2, generator=42)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch_with_repeated_indices(dtype):
    rng = np.random.default_rng(2)
    ours = nn.Embedding(27, 10, dtype=dtype, generator=rng)
    ref = torch.nn.Embedding(27, 10, dtype=TORCH[dtype])
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.detach().numpy()))
    idx = rng.integers(0, 27, (32, 3))                   # 96 lookups of 27 rows: repeats for sure
    out, rout = ours(idx), ref(torch.from_numpy(idx))
    np.testing.assert_array_equal(out.data, rout.detach().numpy())
    backward_both(out, rout, rng)
    assert_close(ours.weight.grad, ref.weight.grad, "dC")
    with pytest.raises(IndexError):
        ours(np.array([[0, 27]]))


def test_flatten_tanh_and_sequential_match_torch():
    rng = np.random.default_rng(3)
    x = randn(rng, 4, 3, 5, 2)
    for args in [(), (1, 2), (0, -1)]:
        np.testing.assert_array_equal(nn.Flatten(*args)(tinytape.tensor(x)).data,
                                      torch.nn.Flatten(*args)(torch.from_numpy(x)).numpy())
    seq = nn.Sequential(nn.Flatten(), nn.Linear(30, 16, dtype=np.float64), nn.Tanh(),
                        nn.Linear(16, 5, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 16, dtype=torch.float64), torch.nn.Tanh(),
                              torch.nn.Linear(16, 5, dtype=torch.float64))
    seq[1].load_torch(ref[1].weight.detach().numpy(), ref[1].bias.detach().numpy())
    seq[3].load_torch(ref[3].weight.detach().numpy(), ref[3].bias.detach().numpy())
    x = randn(rng, 8, 3, 10)
    out, rout = seq(tinytape.tensor(x)), ref(torch.from_numpy(x))
    assert_close(out.data, rout, "out")
    backward_both(out, rout, rng)
    for i in (1, 3):
        assert_close(seq[i].weight.grad.T, ref[i].weight.grad, f"W{i}")
        assert_close(seq[i].bias.grad, ref[i].bias.grad, f"b{i}")
    assert len(seq) == 4 and isinstance(seq[2], nn.Tanh) and seq[-1] is seq[3]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is seq[1]
    assert seq.append(nn.Tanh()) is seq and len(seq) == 5
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        nn.Sequential(nn.Tanh(), lambda x: x)


# ---------------------------------------------------------------------------------- BatchNorm1d
def copy_affine(ours, ref, rng, dtype):
    w = randn(rng, ours.num_features, dtype=dtype, scale=0.3, shift=1.0)
    b = randn(rng, ours.num_features, dtype=dtype, scale=0.3)
    ours.weight.data[...] = w
    ours.bias.data[...] = b
    if ref is not None:
        with torch.no_grad():
            ref.weight.copy_(torch.from_numpy(w))
            ref.bias.copy_(torch.from_numpy(b))
    return w, b


def batch(rng, dtype, n=32, c=7):
    return randn(rng, n, c, dtype=dtype, scale=3.0, shift=2.0)   # not already normalised


def run_both(ours, ref_fn, x, rng):
    """Forward and backward with a random upstream gradient; returns (ours, ref) outputs and dx."""
    xo, xt = tinytape.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    out, rout = ours(xo), ref_fn(xt)
    assert_close(out.data, rout, "out")
    backward_both(out, rout, rng)
    assert_close(xo.grad, xt.grad, "dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, None, 0.0])
def test_batchnorm1d_default_matches_torch_train_and_eval(dtype, momentum):
    rng = np.random.default_rng(4)
    ours = nn.BatchNorm1d(7, momentum=momentum, dtype=dtype)
    ref = torch.nn.BatchNorm1d(7, momentum=momentum, dtype=TORCH[dtype])
    copy_affine(ours, ref, rng, dtype)
    for step in range(3):                                # training: batch statistics, running updates
        run_both(ours, ref, batch(rng, dtype), rng)
        assert_close(ours.weight.grad, ref.weight.grad, "dgain")
        assert_close(ours.bias.grad, ref.bias.grad, "dbias")
        assert_close(ours.running_mean.data, ref.running_mean, "running_mean")
        assert_close(ours.running_var.data, ref.running_var, "running_var")
        assert int(ours.num_batches_tracked.data) == int(ref.num_batches_tracked) == step + 1
        ours.zero_grad()
        ref.zero_grad()
    if momentum == 0.0:                                  # momentum 0: the statistics never move
        np.testing.assert_array_equal(ours.running_mean.data, 0)
        np.testing.assert_array_equal(ours.running_var.data, 1)
    ours.eval()
    ref.eval()
    for n in (32, 1):                                    # eval: running statistics, any batch size
        run_both(ours, ref, batch(rng, dtype, n), rng)
        assert_close(ours.weight.grad, ref.weight.grad, "dgain (eval)")
        assert_close(ours.bias.grad, ref.bias.grad, "dbias (eval)")
        ours.zero_grad()
        ref.zero_grad()


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm1d_without_affine_or_running_stats_matches_torch(dtype):
    rng = np.random.default_rng(5)
    ours = nn.BatchNorm1d(7, affine=False, dtype=dtype)
    ref = torch.nn.BatchNorm1d(7, affine=False, dtype=TORCH[dtype])
    assert ours.parameters() == []
    run_both(ours, ref, batch(rng, dtype), rng)
    assert_close(ours.running_var.data, ref.running_var, "running_var")
    ours = nn.BatchNorm1d(7, track_running_stats=False, dtype=dtype)
    ref = torch.nn.BatchNorm1d(7, track_running_stats=False, dtype=TORCH[dtype])
    copy_affine(ours, ref, rng, dtype)
    assert ours.buffers() == [] and ours.running_mean is None
    ours.eval()
    ref.eval()                                           # eval still uses batch statistics
    run_both(ours, ref, batch(rng, dtype), rng)
    assert_close(ours.weight.grad, ref.weight.grad, "dgain")


def lecture_batchnorm_train(x, bngain, bnbias, eps=1e-5):
    """The lecture's batchnorm forward (seed 004), in torch: Bessel's correction in the variance."""
    bnmean = x.mean(0, keepdim=True)
    bnvar = x.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + eps)**-0.5
    bnraw = (x - bnmean) * bnvar_inv
    return bngain * bnraw + bnbias, bnmean, bnvar


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm1d_lecture_mode_matches_the_lecture_formula(dtype):
    rng = np.random.default_rng(6)
    m = 0.1
    ours = nn.BatchNorm1d(7, momentum=m, unbiased=True, dtype=dtype)
    w, b = copy_affine(ours, None, rng, dtype)
    gain = torch.from_numpy(w).requires_grad_()
    bias = torch.from_numpy(b).requires_grad_()
    running_mean = torch.zeros(1, 7, dtype=TORCH[dtype])
    running_var = torch.ones(1, 7, dtype=TORCH[dtype])
    for _ in range(3):
        stats = {}

        def ref(x):
            out, stats["mean"], stats["var"] = lecture_batchnorm_train(x, gain, bias)
            return out
        run_both(ours, ref, batch(rng, dtype), rng)
        assert_close(ours.weight.grad, gain.grad, "dbngain")
        assert_close(ours.bias.grad, bias.grad, "dbnbias")
        with torch.no_grad():                            # the lecture's running update (part 3)
            running_mean = (1 - m) * running_mean + m * stats["mean"]
            running_var = (1 - m) * running_var + m * stats["var"]
        assert_close(ours.running_mean.data, running_mean[0], "running_mean")
        assert_close(ours.running_var.data, running_var[0], "running_var")
        ours.zero_grad()
        gain.grad = bias.grad = None
    ours.eval()                                          # the lecture's split_loss formula
    run_both(ours, lambda x: gain * (x - running_mean) * (running_var + 1e-5)**-0.5 + bias,
             batch(rng, dtype), rng)
    assert_close(ours.weight.grad, gain.grad, "dbngain (eval)")


def test_batchnorm1d_lecture_mode_differs_from_torch_default():
    """The two modes are not the same computation: a check that the option does something."""
    x = batch(np.random.default_rng(7), np.float64, n=8)
    biased = nn.BatchNorm1d(7, dtype=np.float64)(tinytape.tensor(x)).data
    bessel = nn.BatchNorm1d(7, unbiased=True, dtype=np.float64)(tinytape.tensor(x)).data
    np.testing.assert_allclose(bessel, biased * np.sqrt(7 / 8), rtol=1e-4)   # sqrt((n-1)/n), up to eps
    assert np.abs(bessel - biased).max() > 1e-2


@pytest.mark.parametrize("unbiased", [False, True])
def test_batchnorm1d_training_on_one_example_raises_like_torch_and_changes_nothing(unbiased):
    ours = nn.BatchNorm1d(7, unbiased=unbiased)
    ref = torch.nn.BatchNorm1d(7)
    x = np.ones((1, 7), np.float32)
    with pytest.raises(ValueError) as ref_err:
        ref(torch.from_numpy(x))
    before = {k: v.copy() for k, v in ours.state_dict().items()}
    recorded = len(tape.entries())
    xo = tinytape.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match="more than 1 value per channel when training") as err:
        ours(xo)
    assert str(ref_err.value).startswith(str(err.value).split(", got")[0])
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert int(ours.num_batches_tracked.data) == 0 and len(tape.entries()) == recorded
    assert ours.eval()(xo).shape == (1, 7)               # eval on one example is fine


def test_batchnorm1d_rejects_bad_input_and_options():
    bn = nn.BatchNorm1d(7)
    with pytest.raises(RuntimeError, match="should have 5 elements"):
        bn(tinytape.ones(4, 5))
    with pytest.raises(ValueError, match="expected 2D input"):
        bn(tinytape.ones(4, 7, 2))
    assert int(bn.num_batches_tracked.data) == 0
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(7, momentum=1.5)
    assert "unbiased=True" in repr(nn.BatchNorm1d(3, unbiased=True))
