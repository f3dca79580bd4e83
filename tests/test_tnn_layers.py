"""tinytape.nn's layers, nn.init and nn.utils against torch's: init bit for bit from the same seed
(torch's random stream), each layer built on both from one state dict with forward, input and
parameter gradients compared, running statistics, reprs, refusals in torch's words."""
import math

import numpy as np
import pytest
import torch

import tinytape
import tinytape.nn as tnn
from tnn_harness import DEEP, assert_close, run, same_error, same_repr, same_state, twin

RNG = np.random.default_rng(0)


def randn(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def both(make, seed=0):
    """make(T, nn) on torch and on tinytape from one seed, no state copied: for init checks."""
    torch.manual_seed(seed)
    tm = make(torch, torch.nn)
    tinytape.manual_seed(seed)
    return tm, make(tinytape, tnn)


# ---------------------------------------------------------------------------------- init, bit for bit
@pytest.mark.parametrize("shape", [(3, 4), (27, 100), (1, 1), (200, 30)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_init_is_torchs_bit_for_bit(shape, bias):
    tm, mm = both(lambda T, nn: nn.Linear(*shape, bias=bias))
    for (tn, tp), (mn, mp) in zip(tm.named_parameters(), mm.named_parameters()):
        assert tn == mn
        assert_close(tp, mp, exact=True)
    assert tuple(mm.weight.shape) == (shape[1], shape[0])            # torch's (out, in) layout
    assert_close(torch.rand(5), tinytape.rand(5), exact=True)         # the generators end in one state


def test_linear_init_float64_and_a_sequence_of_layers():
    tm, mm = both(lambda T, nn: nn.Sequential(nn.Linear(10, 20, dtype=T.float64), nn.Embedding(27, 10),
                                              nn.Linear(20, 5), nn.BatchNorm1d(5), nn.Embedding(3, 2)))
    for tp, mp in zip(tm.state_dict().values(), mm.state_dict().values()):
        assert_close(tp, mp, exact=True)


@pytest.mark.parametrize("shape", [(5, 7), (4, 3, 2), (64, 32)], ids=str)
@pytest.mark.parametrize("fn,kwargs", [
    ("uniform_", {}), ("uniform_", dict(a=-2.0, b=0.5)), ("normal_", {}), ("normal_", dict(mean=1.0, std=0.1)),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", {}), ("kaiming_normal_", dict(mode="fan_out", nonlinearity="tanh")),
    ("xavier_uniform_", {}), ("xavier_uniform_", dict(gain=5 / 3)), ("xavier_normal_", {}),
    ("xavier_normal_", dict(gain=2.0)), ("constant_", dict(val=0.25)), ("ones_", {}), ("zeros_", {})], ids=str)
def test_init_functions_are_torchs_bit_for_bit(fn, kwargs, shape):
    torch.manual_seed(3)
    t = torch.empty(shape, requires_grad=True)
    t_out = getattr(torch.nn.init, fn)(t, **kwargs)
    tinytape.manual_seed(3)
    m = tnn.Parameter(tinytape.empty(shape))
    m_out = getattr(tnn.init, fn)(m, **kwargs)
    assert m_out is m and t_out is t and m.is_leaf and m.requires_grad
    assert_close(t, m, exact=True)
    assert_close(torch.rand(3), tinytape.rand(3), exact=True)


def test_init_with_a_generator_and_float64():
    tg, mg = torch.Generator().manual_seed(7), tinytape.Generator().manual_seed(7)
    t, m = torch.empty(6, 5, dtype=torch.float64), tinytape.empty(6, 5, dtype=tinytape.float64)
    torch.nn.init.kaiming_normal_(t, generator=tg)
    tnn.init.kaiming_normal_(m, generator=mg)
    assert_close(t, m, exact=True)
    torch.nn.init.xavier_uniform_(t, generator=tg)
    tnn.init.xavier_uniform_(m, generator=mg)
    assert_close(t, m, exact=True)


def test_calculate_gain_and_init_errors():
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu",)]:
        assert tnn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)
    same_error(lambda: torch.nn.init.calculate_gain("swish"), lambda: tnn.init.calculate_gain("swish"))
    same_error(lambda: torch.nn.init.calculate_gain("leaky_relu", True),
               lambda: tnn.init.calculate_gain("leaky_relu", True))
    same_error(lambda: torch.nn.init.kaiming_uniform_(torch.empty(3)),
               lambda: tnn.init.kaiming_uniform_(tinytape.empty(3)))
    same_error(lambda: torch.nn.init.xavier_normal_(torch.empty(3)), lambda: tnn.init.xavier_normal_(tinytape.empty(3)))
    same_error(lambda: torch.nn.init.kaiming_normal_(torch.empty(3, 3), mode="fan"),
               lambda: tnn.init.kaiming_normal_(tinytape.empty(3, 3), mode="fan"))
    with pytest.warns(UserWarning, match="zero-element"):
        tnn.init.kaiming_uniform_(tinytape.empty(0, 3))


def test_embedding_and_batchnorm_init():
    tm, mm = both(lambda T, nn: nn.Embedding(30, 16, padding_idx=-2))
    assert_close(tm.weight, mm.weight, exact=True)
    assert mm.padding_idx == tm.padding_idx == 28 and not np.asarray(mm.weight.detach())[28].any()
    tm, mm = both(lambda T, nn: nn.BatchNorm1d(7))
    same_state(tm, mm)


# ---------------------------------------------------------------------------------- Linear, Embedding
@pytest.mark.parametrize("shape", [(6, 3), (2, 5, 3), (3,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_gradients(shape, bias):
    tm, mm = twin(lambda T, nn: nn.Linear(3, 4, bias=bias))
    run(tm, mm, randn(*shape))
    same_repr(tm, mm)


def test_linear_float64():
    tm, mm = twin(lambda T, nn: nn.Linear(5, 2, dtype=T.float64))
    run(tm, mm, randn(4, 5, dtype=np.float64), tol=dict(rtol=1e-12, atol=1e-13))


@pytest.mark.parametrize("idx", [np.array([3, 1, 3, 0]), np.array([[1, 2, 2], [0, 4, 1]]), np.array(2)], ids=str)
@pytest.mark.parametrize("padding_idx", [None, 1])
def test_embedding_forward_and_gradients(idx, padding_idx):
    tm, mm = twin(lambda T, nn: nn.Embedding(5, 3, padding_idx=padding_idx))
    run(tm, mm, idx)
    same_repr(tm, mm)


def test_embedding_max_norm_renormalises_rows_in_place():
    def make(T, nn):
        return nn.Embedding(6, 4, max_norm=1.5, norm_type=3.0)
    tm, mm = twin(make)
    run(tm, mm, np.array([[0, 2], [2, 5]]))
    same_state(tm, mm)
    same_repr(tm, mm)


def test_embedding_from_pretrained():
    w = randn(4, 3)
    te, me = torch.nn.Embedding.from_pretrained(torch.tensor(w)), tnn.Embedding.from_pretrained(tinytape.tensor(w))
    assert not me.weight.requires_grad and not te.weight.requires_grad
    run(te, me, np.array([0, 3]))
    same_repr(te, me)
    te2 = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False)
    me2 = tnn.Embedding.from_pretrained(tinytape.tensor(w), freeze=False)
    run(te2, me2, np.array([[0, 3], [3, 3]]))


# ---------------------------------------------------------------------------------- BatchNorm1d
@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 3)], ids=str)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm_training_running_statistics_and_eval(shape, momentum):
    tm, mm = twin(lambda T, nn: nn.BatchNorm1d(4, momentum=momentum))
    with torch.no_grad():                                  # weight and bias other than ones and zeros
        tm.weight.copy_(torch.tensor(randn(4))), tm.bias.copy_(torch.tensor(randn(4)))
    mm.load_state_dict({k: tinytape.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    for step in range(3):
        tm.zero_grad(), mm.zero_grad()
        run(tm, mm, randn(*shape, scale=2.0) + step, tol=DEEP)
        same_state(tm, mm)
    assert mm.num_batches_tracked.item() == 3 and mm.num_batches_tracked.dtype == tinytape.int64
    tm.eval(), mm.eval()
    run(tm, mm, randn(*shape), tol=DEEP)
    same_state(tm, mm)
    same_repr(tm, mm)


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False), dict(bias=False),
                                    dict(eps=1e-3, affine=False, track_running_stats=False)], ids=str)
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)], ids=str)
def test_batchnorm_options(kwargs, shape):
    tm, mm = twin(lambda T, nn: nn.BatchNorm1d(3, **kwargs))
    assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in mm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    run(tm, mm, randn(*shape), tol=DEEP)
    same_state(tm, mm)
    tm.eval(), mm.eval()
    run(tm, mm, randn(*shape), tol=DEEP)
    same_repr(tm, mm)


def test_batchnorm_float64_and_refusals():
    tm, mm = twin(lambda T, nn: nn.BatchNorm1d(3, dtype=T.float64))
    run(tm, mm, randn(5, 3, dtype=np.float64), tol=dict(rtol=1e-10, atol=1e-12))
    same_state(tm, mm)
    tm, mm = twin(lambda T, nn: nn.BatchNorm1d(3))
    same_error(lambda: tm(torch.zeros(2, 3, 4, 5)), lambda: mm(tinytape.zeros(2, 3, 4, 5)))
    same_error(lambda: tm(torch.zeros(1, 3)), lambda: mm(tinytape.zeros(1, 3)))
    same_error(lambda: tm(torch.zeros(1, 3, 1)), lambda: mm(tinytape.zeros(1, 3, 1)))
    tm.eval(), mm.eval()
    run(tm, mm, randn(1, 3))                               # one row is fine in eval


def test_batchnorm_loads_an_old_checkpoint_without_the_counter():
    tm, mm = twin(lambda T, nn: nn.BatchNorm1d(2))
    sd = {k: tinytape.tensor(v.numpy()) for k, v in tm.state_dict().items() if k != "num_batches_tracked"}
    assert repr(mm.load_state_dict(sd)) == "<All keys matched successfully>"


# ---------------------------------------------------------------------------------- activations, losses
@pytest.mark.parametrize("make", [
    lambda T, nn: nn.Tanh(), lambda T, nn: nn.Sigmoid(), lambda T, nn: nn.ReLU(), lambda T, nn: nn.Identity(54, x=1),
    lambda T, nn: nn.Softmax(dim=1), lambda T, nn: nn.Softmax(dim=-1), lambda T, nn: nn.Softmax(0),
    lambda T, nn: nn.Flatten(), lambda T, nn: nn.Flatten(0), lambda T, nn: nn.Flatten(0, 1),
    lambda T, nn: nn.Flatten(-2, -1)], ids=lambda f: "")
def test_activations_and_shape_layers(make):
    tm, mm = twin(make)
    x = randn(3, 4, 5)
    x[0, 0, :2] = 0.0                                     # relu's kink
    run(tm, mm, x)
    same_repr(tm, mm)


def test_relu_inplace():
    tm, mm = twin(lambda T, nn: nn.Sequential(nn.Linear(3, 3), nn.ReLU(inplace=True)))
    run(tm, mm, randn(4, 3))
    same_repr(tm, mm)
    same_error(lambda: tm[1](torch.zeros(2, requires_grad=True)), lambda: mm[1](tinytape.zeros(2, requires_grad=True)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_mse_loss(reduction):
    tm, mm = twin(lambda T, nn: nn.CrossEntropyLoss(reduction=reduction))
    logits, target = randn(6, 5, scale=2.0), np.array([0, 4, 2, 2, 1, 3])
    t_out, m_out = tm(torch.tensor(logits, requires_grad=True), torch.tensor(target)), \
        mm(tinytape.tensor(logits, requires_grad=True), tinytape.tensor(target))
    assert_close(t_out, m_out)
    same_repr(tm, mm)
    assert [n for n, _ in mm.named_buffers()] == [] and mm.reduction == reduction
    tm, mm = twin(lambda T, nn: nn.MSELoss(reduction=reduction))
    run(tm, mm, randn(4, 3), randn(4, 3))
    same_repr(tm, mm)


def test_cross_entropy_gradient_through_a_model():
    def make(T, nn):
        return nn.Sequential(nn.Embedding(27, 4), nn.Flatten(), nn.Linear(12, 16), nn.BatchNorm1d(16), nn.Tanh(),
                             nn.Linear(16, 27))
    tm, mm = twin(make)
    x, y = RNG.integers(0, 27, (32, 3)), RNG.integers(0, 27, 32)
    t_loss = torch.nn.CrossEntropyLoss()(tm(torch.tensor(x)), torch.tensor(y))
    m_loss = tnn.CrossEntropyLoss()(mm(tinytape.tensor(x)), tinytape.tensor(y))
    assert_close(t_loss, m_loss)
    t_loss.backward(), m_loss.backward()
    for (n, tp), (_, mp) in zip(tm.named_parameters(), mm.named_parameters()):
        assert_close(tp.grad, mp.grad, DEEP)


# ---------------------------------------------------------------------------------- clip_grad_norm_
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, float("inf"), 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm(norm_type, max_norm):
    tm, mm = twin(lambda T, nn: nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3, bias=False)))
    run(tm, mm, randn(6, 4, scale=3.0))
    t_norm = torch.nn.utils.clip_grad_norm_(tm.parameters(), max_norm, norm_type)
    m_norm = tnn.utils.clip_grad_norm_(mm.parameters(), max_norm, norm_type)
    assert_close(t_norm, m_norm)
    assert m_norm.ndim == 0 and not m_norm.requires_grad
    for tp, mp in zip(tm.parameters(), mm.parameters()):
        assert_close(tp.grad, mp.grad)


def test_clip_grad_norm_edges():
    assert_close(torch.nn.utils.clip_grad_norm_([], 1.0), tnn.utils.clip_grad_norm_([], 1.0))
    p, q = torch.nn.Parameter(torch.tensor([3.0, 4.0])), tnn.Parameter(tinytape.tensor([3.0, 4.0]))
    p.grad, q.grad = torch.tensor([float("nan"), 1.0]), tinytape.tensor([float("nan"), 1.0])
    same_error(lambda: torch.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True),
               lambda: tnn.utils.clip_grad_norm_(q, 1.0, error_if_nonfinite=True))
    p.grad, q.grad = torch.tensor([3.0, -4.0]), tinytape.tensor([3.0, -4.0])
    assert_close(torch.nn.utils.clip_grad_norm_(p, 1.0), tnn.utils.clip_grad_norm_(q, 1.0))
    assert_close(p.grad, q.grad)
    torch.nn.utils.clip_grad_value_(p, 0.5), tnn.utils.clip_grad_value_(q, 0.5)
    assert_close(p.grad, q.grad)


def test_a_few_sgd_steps_with_clipping_match_torch():
    tm, mm = twin(lambda T, nn: nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 4)))
    for step in range(5):
        x, y = randn(16, 3), RNG.integers(0, 4, 16)
        tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        ml = tnn.functional.cross_entropy(mm(tinytape.tensor(x)), tinytape.tensor(y))
        assert_close(tl, ml, DEEP)
        tm.zero_grad(), mm.zero_grad()
        tl.backward(), ml.backward()
        torch.nn.utils.clip_grad_norm_(tm.parameters(), 0.5), tnn.utils.clip_grad_norm_(mm.parameters(), 0.5)
        with torch.no_grad(), tinytape.no_grad():
            for tp, mp in zip(tm.parameters(), mm.parameters()):
                tp -= 0.1 * tp.grad
                mp -= 0.1 * mp.grad
    same_state(tm, mm, DEEP)


def test_functional_is_tinytapes():
    import tinytape.functional
    import tinytape.nn.functional as F
    assert F is tinytape.functional and tnn.functional is tinytape.functional
